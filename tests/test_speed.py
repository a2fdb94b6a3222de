"""Speed work kept honest without timing anything (the timings live in benchmarks/)."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT, as_images
from helpers import TRAIN, lenet_config

from stages import training

NON_MODEL_STAGES = ("download", "preprocess", "scratch_backprop", "plot_samples", "report")


@pytest.mark.parametrize("stage", NON_MODEL_STAGES)
def test_stages_that_need_no_model_never_import_tensorflow(stage):
    code = (
        f"import importlib, sys; importlib.import_module('stages.{stage}'); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == ["False", "False"]


# Fewer Python round trips and larger validation batches change nothing but the speed:
# the same updates happen in the same order. Allow float summation-order noise only.
TOLERANCE = 0.005


def test_the_optimised_training_path_learns_as_well_as_the_plain_one(small_data, tmp_path, monkeypatch):
    train, val = as_images(small_data)
    config = lenet_config(epochs=2)
    plain = TRAIN.model_copy(update={"steps_per_execution": 1, "validation_batch_size": config.batch_size})
    optimised = TRAIN.model_copy(update={"steps_per_execution": 50, "validation_batch_size": 1000})
    results = {}
    for name, runtime in (("plain", plain), ("optimised", optimised)):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        training.train("lenet-base", config, seed=3, train_params=runtime, cpu_isa="avx2", splits=(train, val))
        results[name] = json.loads((tmp_path / name / "reports/live/lenet-base/metrics.json").read_text())
    assert results["plain"]["best_val_accuracy"] > 0.6
    assert results["optimised"]["best_val_accuracy"] == pytest.approx(
        results["plain"]["best_val_accuracy"], abs=TOLERANCE
    )
    assert results["optimised"]["best_val_loss"] == pytest.approx(results["plain"]["best_val_loss"], abs=TOLERANCE)
