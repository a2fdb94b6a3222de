"""Params overrides as `dvc exp run -S` takes them (dotted keys), written into a copy's params.yaml.

What the tests' project copies, ci/quick_run.py and the benchmark's clones set.
"""

import functools

import yaml

from stages import models


def quick_params(raw):
    """Small enough for CI, large enough that every stage does real work: every model `raw` (params.yaml) has."""
    # 1,024 and 1,000: whole batches of 32, 128 and 1,000, as the full data has (stages/quiet_tf.py says why)
    data = {"data.max_train_samples": 1024, "data.max_val_samples": 1000, "data.max_test_samples": 500}
    return data | epochs(raw, 1, mlp=2)


def epochs(raw, count, mlp=None):
    """Every model's epochs set to `count` (the MLP's to `mlp` if given), a warm-up as long dropped (schema rule)."""
    found = {}
    for model in models.names(raw):
        key = models.params_key(model)
        config = functools.reduce(lambda node, part: node[part], key.split("."), raw)
        n = mlp if model == models.MLP and mlp else count
        found[f"{key}.epochs"] = n
        if config["schedule"]["kind"] == "cosine" and config["schedule"]["warmup_epochs"] >= n:
            found[f"{key}.schedule.warmup_epochs"] = 0
    return found


def set_params(params_path, dotted):
    """Set dotted keys ("lenet.base.epochs") in a params.yaml."""
    params = yaml.safe_load(params_path.read_text())
    for key, value in dotted.items():
        node = params
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
