"""The shape of params.yaml: one declarative schema, checked before any expensive work.

Every key is required (params.yaml is the only place a value lives) and unknown
keys are errors. A stage checks only the subtrees it reads, with `check`, so a
typo under `lenet.base` stops `train_lenet@base` and nothing else.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stages.kernels import PINS

# strict: `epochs: true` or `epochs: 2.0` is a mistake, not 1 or 2.
STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

PositiveInt = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0, lt=1)]  # a rate such as dropout: 1 would drop everything
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Activation = Literal["relu", "elu", "gelu", "swish", "tanh", "sigmoid"]


class Section(BaseModel):
    model_config = STRICT

    def record(self):
        """The values as params.yaml gives them, for training records: an optional key left out stays out."""
        return self.model_dump(exclude_unset=True)


class Scratch(Section):
    seed: Annotated[int, Field(ge=0)]
    n_samples: PositiveInt
    n_hidden: PositiveInt
    gradcheck_epsilon: Annotated[float, Field(gt=0, lt=1)]


class Data(Section):
    val_fraction: Annotated[float, Field(gt=0, lt=1)]
    # null = the whole split; a number takes a stratified subset, for quick runs
    max_train_samples: Annotated[int, Field(ge=10)] | None
    max_val_samples: Annotated[int, Field(ge=10)] | None
    max_test_samples: Annotated[int, Field(ge=10)] | None


class Plots(Section):
    samples_grid: PositiveInt
    predictions_grid: PositiveInt


class Evaluate(Section):
    batch_size: PositiveInt


class Train(Section):
    steps_per_execution: PositiveInt
    validation_batch_size: PositiveInt
    # 0 is TensorFlow's default, one per core: results then differ in their last bits between machines
    intra_op_threads: Annotated[int, Field(ge=0)]
    inter_op_threads: Annotated[int, Field(ge=0)]


class Plateau(Section):
    kind: Literal["plateau"]
    factor: Annotated[float, Field(gt=0, lt=1)]
    patience: PositiveInt


class Cosine(Section):
    kind: Literal["cosine"]
    warmup_epochs: Annotated[int, Field(ge=0)]


class Constant(Section):
    kind: Literal["constant"]


Schedule = Annotated[Plateau | Cosine | Constant, Field(discriminator="kind")]


class Fit(Section):
    """How a model is trained; shared by the MLP and every LeNet variant."""

    epochs: PositiveInt
    batch_size: PositiveInt
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"]
    learning_rate: Annotated[float, Field(gt=0, le=1)]
    weight_decay: Annotated[float, Field(ge=0, lt=1)]
    label_smoothing: Fraction
    # Validation, the saved weights and evaluation use an exponential moving average of the weights
    # (Polyak averaging) with this momentum; 0 = the weights as trained.
    ema_momentum: Annotated[float, Field(ge=0, lt=1)]
    schedule: Schedule
    restore_best_weights: bool
    monitor: Literal["val_accuracy", "val_loss"]

    @model_validator(mode="after")
    def _warmup_fits(self):
        if isinstance(self.schedule, Cosine) and self.schedule.warmup_epochs >= self.epochs:
            raise ValueError("schedule.warmup_epochs must be less than epochs")
        return self


class Mlp(Fit):
    hidden_units: Annotated[list[PositiveInt], Field(min_length=1)]
    activation: Activation


class Augment(Section):
    translate: Annotated[float, Field(ge=0, le=0.5)]  # largest shift, as a fraction of the side
    flip: bool  # horizontal flips: garments are left-right symmetric, digits would not be


class Lenet(Fit):
    """A LeNet-family network: conv layers (each maybe pooled), then dense layers."""

    filters: Annotated[list[PositiveInt], Field(min_length=1)]
    kernel_size: Annotated[list[PositiveInt], Field(min_length=1)]
    padding: Annotated[list[Literal["same", "valid"]], Field(min_length=1)]
    pooling: Annotated[list[Literal["max", "average", "none"]], Field(min_length=1)]
    batch_norm: bool  # BatchNormalization between each conv and its activation
    dropout: Fraction  # after each pooled conv block and after the last conv
    head: Literal["flatten", "global_average"]
    dense_units: list[PositiveInt]
    dense_dropout: Fraction  # before each hidden dense layer
    activation: Activation
    augment: Augment
    # Predictions average the image and its mirror image: at evaluation, and for the recorded validation score.
    test_time_flip: bool
    # Ways to cheaper networks, added after the assignment's variants were made: absent means every conv is a
    # full one with stride 1, so those variants' params, and the runs recorded with them, keep their meaning.
    conv: Annotated[list[Literal["full", "separable"]], Field(min_length=1)] | None = None
    strides: Annotated[list[Literal[1, 2]], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_entry_per_conv(self):
        lengths = {
            key: len(getattr(self, key))
            for key in ("kernel_size", "padding", "pooling", "conv", "strides")
            if getattr(self, key) is not None
        }
        for key, length in lengths.items():
            if length != len(self.filters):
                raise ValueError(f"{key} has {length} entries, filters {len(self.filters)}: one per conv layer")
        return self


class Reference(Section):
    """The reference distribution (reference/dvc.yaml): every model retrained on each seed, split unchanged."""

    seeds: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2)]
    # a new run lands inside mean +- t * s * sqrt(1 + 1/n) this often when nothing is broken
    confidence: Annotated[float, Field(gt=0.5, lt=1)]

    @model_validator(mode="after")
    def _distinct_seeds(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct: a repeated seed is the same run twice")
        return self


class Params(Section):
    seed: Annotated[int, Field(ge=0)]
    # null: training draws from `seed` too; a number: another draw of the training on the split `seed` drew
    training_seed: Annotated[int, Field(ge=0)] | None
    cpu_isa: Literal[tuple(PINS)]  # the kernels' instruction set (stages/kernels.py)
    scratch: Scratch
    data: Data
    plots: Plots
    evaluate: Evaluate
    train: Train
    mlp: Mlp
    lenet: Annotated[dict[Name, Lenet], Field(min_length=1)]
    reference: Reference
