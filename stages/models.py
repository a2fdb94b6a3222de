"""The one list of models: `mlp`, and `lenet-<variant>` for each entry of `lenet` in params.yaml.

Everything that lists models (the stages, make verify, the report, the benchmark, the docs and the
tests) reads them here: a model's name, where its params live, and its stages in dvc.yaml and in
reference/dvc.yaml.
"""

import re

MLP = "mlp"
LENET_PREFIX = "lenet-"
NAME = re.compile(r"^(mlp|lenet-[a-z][a-z0-9_]*)$")


def names(raw_params):
    """Every model params.yaml defines, the MLP first, then the LeNet variants in params.yaml's order."""
    return [MLP, *(LENET_PREFIX + variant for variant in raw_params["lenet"])]


def params_key(model):
    """Where a model's params live: `mlp`, or `lenet.<variant>` for `lenet-<variant>`."""
    return MLP if model == MLP else "lenet." + variant(model)


def variant(model):
    return model.removeprefix(LENET_PREFIX)


def is_lenet(model):
    return model.startswith(LENET_PREFIX)


def stages(model):
    """Its stages in dvc.yaml: its training, then its evaluation."""
    if model == MLP:
        return {"train": "train_mlp", "evaluate": "evaluate_mlp"}
    return {"train": f"train_lenet@{variant(model)}", "evaluate": f"evaluate_lenet@{variant(model)}"}


def reference_stage(model, seed):
    """Its run with `seed` in reference/dvc.yaml (a matrix stage)."""
    if model == MLP:
        return f"run_mlp@{seed}"
    return f"run_lenet@{variant(model)}-{seed}"
