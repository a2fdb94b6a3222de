"""What several test modules share to build and train the networks: a variant's config, a short training."""

import json

from conftest import PARAMS

from stages import params, training

# Thread and batch settings that keep these tests' trainings quick; what they check does not depend on them.
TRAIN = params.check(PARAMS, "train").model_copy(
    update={"steps_per_execution": 1, "validation_batch_size": 500, "inter_op_threads": 0, "intra_op_threads": 0}
)
SEED = 7


def lenet_config(variant="base", **changes):
    """A variant of params.yaml with some knobs changed, checked by the schema."""
    raw = {**PARAMS["lenet"][variant], **changes}
    return params.check({**PARAMS, "lenet": {variant: raw}}, f"lenet.{variant}")


def train_small(workdir, monkeypatch, data, name, config, seed=SEED):
    """training.train in `workdir` on `data` (small_data's splits): its training record and DVCLive summary."""
    monkeypatch.chdir(workdir)
    training.train(name, config, seed=seed, train_params=TRAIN, cpu_isa="avx2", splits=data)
    return {
        **json.loads((workdir / "reports/training" / name / "training.json").read_text()),
        **json.loads((workdir / "reports/live" / name / "metrics.json").read_text()),
    }
