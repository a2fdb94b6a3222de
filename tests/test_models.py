"""The architectures params.yaml defines, the knobs that shape them, and short training runs on real images."""

import json

import numpy as np
import pytest
from conftest import PARAMS, as_images
from helpers import SEED, lenet_config, train_small

from stages import flops, params, training
from stages.networks import build_lenet, build_mlp

LENET_SHAPES = [[28, 28, 6], [14, 14, 6], [10, 10, 16], [5, 5, 16], [1, 1, 120], [120], [84], [10]]


@pytest.fixture(scope="module")
def built():
    mlp = params.check(PARAMS, "mlp")
    return {
        "mlp": build_mlp(mlp.hidden_units, mlp.activation),
        **{f"lenet-{v}": build_lenet(lenet_config(v)) for v in ("base", "dropout", "batchnorm")},
    }


@pytest.mark.parametrize(
    ("name", "total", "trainable"),
    [
        ("mlp", 109_386, 109_386),
        ("lenet-base", 61_706, 61_706),
        ("lenet-dropout", 61_706, 61_706),
        ("lenet-batchnorm", 62_274, 61_990),
    ],
)
def test_the_assignment_models_have_its_parameter_counts(built, name, total, trainable):
    counts = training.parameter_counts(built[name])
    assert counts == {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def shapes_of(model, *types):
    return [layer["output_shape"] for layer in training.layer_table(model) if layer["type"] not in types]


def test_layer_shapes(built):
    assert shapes_of(built["mlp"]) == [[128], [64], [10]]
    assert shapes_of(built["lenet-base"]) == LENET_SHAPES


def test_dropout_follows_each_conv_block(built):
    table = training.layer_table(built["lenet-dropout"])
    dropout_after = [table[i - 1]["type"] for i, layer in enumerate(table) if layer["type"] == "Dropout"]
    assert dropout_after == ["MaxPooling2D", "MaxPooling2D", "Conv2D"]
    assert shapes_of(built["lenet-dropout"], "Dropout") == LENET_SHAPES


def test_batch_norm_sits_between_each_conv_and_its_relu(built):
    types = [layer["type"] for layer in training.layer_table(built["lenet-batchnorm"])]
    assert types.count("BatchNormalization") == 3
    for i, layer_type in enumerate(types):
        if layer_type == "Conv2D":
            assert types[i + 1 : i + 3] == ["BatchNormalization", "Activation"]
    assert shapes_of(built["lenet-batchnorm"], "BatchNormalization", "Activation") == LENET_SHAPES


def test_the_knobs_shape_the_network():
    config = lenet_config(
        filters=[8, 8, 16],
        kernel_size=[3, 3, 3],
        padding=["same"] * 3,
        pooling=["none", "average", "max"],
        head="global_average",
        dense_units=[32, 16],
        dense_dropout=0.25,
        activation="gelu",
    )
    table = training.layer_table(build_lenet(config))
    assert [layer["type"] for layer in table] == [
        "Conv2D",
        "Conv2D",
        "AveragePooling2D",
        "Conv2D",
        "MaxPooling2D",
        "GlobalAveragePooling2D",
        "Dropout",
        "Dense",
        "Dropout",
        "Dense",
        "Dense",
    ]
    assert [layer["output_shape"] for layer in table][:6] == [
        [28, 28, 8],
        [28, 28, 8],
        [14, 14, 8],
        [14, 14, 16],
        [7, 7, 16],
        [16],
    ]
    conv = 3 * 3 * 1 * 8 + 8 + 3 * 3 * 8 * 8 + 8 + 3 * 3 * 8 * 16 + 16
    assert training.parameter_counts(build_lenet(config))["total"] == conv + 16 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10


def test_a_stride_and_a_separable_convolution_shape_the_network():
    config = lenet_config(
        filters=[8, 16],
        kernel_size=[3, 3],
        padding=["same", "same"],
        pooling=["none", "max"],
        strides=[2, 1],
        conv=["full", "separable"],
    )
    table = training.layer_table(build_lenet(config))
    assert [(layer["type"], layer["output_shape"]) for layer in table[:3]] == [
        ("Conv2D", [14, 14, 8]),  # the stride halves the side, as a pool would
        ("SeparableConv2D", [14, 14, 16]),
        ("MaxPooling2D", [7, 7, 16]),
    ]
    # depthwise 3x3 per input channel, then pointwise 8 -> 16 with a bias
    assert table[1]["params"] == 3 * 3 * 8 + 8 * 16 + 16


def test_without_the_new_knobs_a_variant_records_the_keys_params_yaml_gives():
    config = lenet_config()
    assert "conv" not in config.record()
    assert "strides" not in config.record()
    assert lenet_config(strides=[1, 2, 1]).record()["strides"] == [1, 2, 1]


def augmented(translate=0.1, flip=True):
    return lenet_config(augment={"translate": translate, "flip": flip})


def test_augmentation_changes_training_batches_only():
    import keras

    keras.utils.set_random_seed(SEED)
    model = build_lenet(augmented(), seed=SEED)
    layers = model.layers[:2]
    assert [type(layer).__name__ for layer in layers] == ["RandomTranslation", "RandomFlip"]
    assert training.parameter_counts(model)["total"] == 61_706
    images = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")
    out = images
    for layer in layers:
        assert np.array_equal(np.asarray(layer(images, training=False)), images)
        out = layer(out, training=True)
    assert not np.array_equal(np.asarray(out), images)


def test_augmentation_is_identical_for_the_same_seed():
    import keras

    images = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")
    outputs = []
    for seed in (SEED, SEED, SEED + 1):
        keras.utils.set_random_seed(seed)
        model = build_lenet(augmented(), seed=seed)
        out = images
        for layer in model.layers[:2]:
            out = layer(out, training=True)
        outputs.append(np.asarray(out))
    assert np.array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[0], outputs[2])


def test_cosine_schedule_warms_up_then_decays():
    config = lenet_config(epochs=4, learning_rate=0.01, schedule={"kind": "cosine", "warmup_epochs": 1})
    schedule = training.learning_rate(config, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 5, 10, 25, 40)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(0.01)
    assert rates[2] > rates[3] > rates[4] == pytest.approx(0.0, abs=1e-6)
    assert training.learning_rate(lenet_config(schedule={"kind": "constant"}), 10) == 0.001  # a plain rate otherwise


# --- training on a small real subset ---------------------------------------------


def test_lenet_learns_on_a_small_subset(small_data, tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "sweep-run-1")  # what a queued experiment's run sees
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    config = lenet_config(epochs=2)
    record = train_small(tmp_path, monkeypatch, as_images(small_data), "lenet-base", config)
    assert record["best_val_accuracy"] > 0.6
    assert (tmp_path / "models/lenet-base.keras").is_file()
    for metric in ("accuracy", "loss"):
        curve = json.loads((tmp_path / f"reports/live/lenet-base/plots/custom/{metric}.json").read_text())
        assert [sorted(row) for row in curve] == [["epoch", "train", "validation"]] * 2
        for split in ("train", "eval"):  # DVCLive's own per-epoch file: a row an epoch, no timestamps
            tsv = (tmp_path / f"reports/live/lenet-base/plots/metrics/{split}/{metric}.tsv").read_text().splitlines()
            assert tsv[0] == f"step\t{metric}"
            assert len(tsv) == 3
    assert record["untrained_output"]["sum"] == pytest.approx(1.0, abs=1e-5)
    assert record["weights_from_epoch"] == record["best_epoch"]
    assert record["config"]["filters"] == [6, 16, 120]
    assert record["train_samples"] == 3000
    # The work goes into the tracked summary; the time only into the git-ignored log, with the run's name.
    assert record["training_gflop"] == round(flops.training(build_lenet(config), 2, 3000, 1000) / 1e9, 1)
    assert record["parameters"] == 61_706
    (timing,) = [json.loads(line) for line in (tmp_path / "logs/timing.jsonl").read_text().splitlines()]
    assert timing["model"] == "lenet-base"
    assert timing["experiment"] == "sweep-run-1"
    assert timing["fit_core_seconds"] > 0
    assert timing["training_gflop"] == record["training_gflop"]


def test_augmented_training_with_every_new_knob_is_deterministic(small_data, tmp_path, monkeypatch):
    config = lenet_config(
        epochs=2,
        filters=[8, 16],
        kernel_size=[3, 3],
        padding=["same", "same"],
        pooling=["max", "max"],
        batch_norm=True,
        head="global_average",
        dense_units=[16],
        augment={"translate": 0.1, "flip": True},
        optimizer="adamw",
        weight_decay=1e-4,
        label_smoothing=0.1,
        ema_momentum=0.9,
        test_time_flip=True,
        batch_size=128,
        schedule={"kind": "cosine", "warmup_epochs": 1},
    )
    data = as_images(((small_data[0][0][:1000], small_data[0][1][:1000]), small_data[1]))
    outputs = []
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
        train_small(tmp_path / run, monkeypatch, data, "lenet-base", config)
        outputs.append(
            [
                (tmp_path / run / path).read_bytes()
                for path in (
                    "reports/training/lenet-base/training.json",
                    "reports/live/lenet-base/metrics.json",
                    "reports/live/lenet-base/plots/custom/loss.json",
                    "reports/live/lenet-base/plots/metrics/eval/loss.tsv",
                    "models/lenet-base.keras",
                )
            ]
        )
    assert outputs[0] == outputs[1]


def test_without_restore_the_last_epoch_is_kept(small_data, tmp_path, monkeypatch):
    config = params.check(PARAMS, "mlp").model_copy(
        update={"epochs": 2, "restore_best_weights": False, "hidden_units": [16]}
    )
    record = train_small(tmp_path, monkeypatch, small_data, "mlp", config)
    assert record["weights_from_epoch"] == 2
    assert np.isfinite(record["best_val_loss"])


# --- the assignment's networks as a Keras example would list them, layer for layer ---------------


def literal_base():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(6, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(120, 5, activation="relu"),
            layers.Flatten(),
            layers.Dense(84, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def literal_dropout():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(6, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.5),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.5),
            layers.Conv2D(120, 5, activation="relu"),
            layers.Dropout(0.5),
            layers.Flatten(),
            layers.Dense(84, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def literal_batchnorm():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(6, 5, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(120, 5),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Flatten(),
            layers.Dense(84, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


LITERAL = {"base": literal_base, "dropout": literal_dropout, "batchnorm": literal_batchnorm}


@pytest.mark.parametrize("variant", ["base", "dropout", "batchnorm"])
def test_the_assignment_variants_are_the_literal_networks_weight_for_weight(variant):
    """Same layers created in the same order: the same seed gives the same initial weights."""
    import keras

    keras.utils.set_random_seed(SEED)
    ours = build_lenet(lenet_config(variant))
    keras.utils.set_random_seed(SEED)
    literal = LITERAL[variant]()
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in literal.layers]
    for mine, theirs in zip(ours.get_weights(), literal.get_weights(), strict=False):
        np.testing.assert_array_equal(mine, theirs)
