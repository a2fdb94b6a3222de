"""The whole pipeline under `dvc repro`, on small subsets with one-epoch models: every model params.yaml defines."""

import json
import re
import sys

import pytest
import yaml
from conftest import PARAMS

from stages import models

MODELS = models.names(PARAMS)
TRAIN_STAGES = [models.stages(model)["train"] for model in MODELS]
EVALUATE_STAGES = [models.stages(model)["evaluate"] for model in MODELS]
ASSIGNMENT_COUNTS = {"mlp": 109_386, "lenet-base": 61_706, "lenet-dropout": 61_706, "lenet-batchnorm": 62_274}


def test_every_model_trains_and_is_evaluated(quick_project):
    assert set(TRAIN_STAGES + EVALUATE_STAGES + ["report"]) <= set(quick_project.ran)
    for model in MODELS:
        assert (quick_project.path / f"models/{model}.keras").is_file()


def test_parallel_arms_run_each_stage_once_and_lock_every_one(quick_project):
    """`make pipeline` ran its stages in several dvc processes: no race lost or doubled a stage or a lock entry."""
    listed = quick_project.dvc("stage", "list", "--name-only").stdout.split()
    assert sorted(quick_project.ran) == sorted(listed)
    locked = yaml.safe_load((quick_project.path / "dvc.lock").read_text())["stages"]
    assert sorted(locked) == sorted(listed)
    assert quick_project.dvc("status", "--json").stdout.strip() == "{}"


def test_metrics_show_lists_every_model_with_a_dozen_values_at_most(quick_project):
    shown = json.loads(quick_project.dvc("metrics", "show", "--json").stdout)[""]["data"]
    for model in MODELS:
        metrics = shown[f"reports/metrics/{model}.json"]["data"]
        assert 0.1 < metrics["test"]["accuracy"] <= 1.0
        assert metrics["test"]["loss"] > 0
        if model in ASSIGNMENT_COUNTS:
            assert metrics["params"]["total"] == ASSIGNMENT_COUNTS[model]
        assert metrics["params"]["total"] <= 62_274 or model == "mlp"
        assert len(leaves(metrics)) <= 12
    assert set(shown["reports/metrics/scratch_backprop.json"]["data"]) == {"loss", "gradient_check_error"}


def leaves(tree):
    return [v for value in tree.values() for v in (leaves(value) if isinstance(value, dict) else [value])]


def test_evaluation_writes_predictions_per_class_scores_and_figures(quick_project):
    for model in MODELS:
        lines = (quick_project.path / f"reports/predictions/{model}.csv").read_text().splitlines()
        assert lines[0] == "actual,predicted"
        assert len(lines) == 501
        per_class = (quick_project.path / f"reports/per_class/{model}.csv").read_text().splitlines()
        assert per_class[0] == "class,precision,recall,f1,support"
        assert len(per_class) == 11
        for figure in ("curves.png", "confusion_matrix.png", "predictions.png"):
            assert (quick_project.path / f"reports/figures/{model}/{figure}").stat().st_size > 10_000


def test_a_new_variant_is_one_params_block_and_the_report_follows_the_params(quick_copy):
    lenet = dict(PARAMS["lenet"]["base"], epochs=1, dense_units=[32], dropout=0.25)
    quick_copy.set_params(**{"lenet.wide": lenet})
    assert quick_copy.stale_stages() == {"train_lenet@wide", "evaluate_lenet@wide", "report"}
    quick_copy.set_params(**{"scratch.n_samples": 500})  # the report's Part 1 input, in the same run
    assert set(quick_copy.repro()) == {"scratch_backprop", "train_lenet@wide", "evaluate_lenet@wide", "report"}
    shown = json.loads(quick_copy.dvc("metrics", "show", "--json").stdout)[""]["data"]
    assert shown["reports/metrics/lenet-wide.json"]["data"]["params"]["total"] == 61_706 - (84 - 32) * (120 + 1 + 10)
    plots = json.loads(quick_copy.dvc("plots", "show", "--json").stdout)["data"]
    assert {
        "reports/predictions/lenet-wide.csv",
        "reports/per_class/lenet-wide.csv",
        "reports/live/lenet-wide/plots/custom/accuracy.json",
        "reports/live/lenet-wide/plots/custom/loss.json",
    } <= set(plots)
    report = (quick_copy.path / "reports/report.md").read_text()
    assert "### lenet-wide" in report
    assert "(figures/lenet-wide/curves.png)" in report
    assert "dropout 0.25 after each conv block" in report.split("### lenet-wide")[1]
    # its own rate, named with it beside the others' (lenet-dropout's 50%)
    assert re.search(r"zeroes a random share of the activations \([^)]*\b25% in lenet-wide\b", report)
    assert "on 500 random points" in report
    assert "1,000 random points" not in report

    # Every evaluation reads the grid size; one of them, then the report, shows that the report follows it.
    quick_copy.set_params(**{"plots.predictions_grid": 3})
    assert quick_copy.stale_stages() == {*EVALUATE_STAGES, "evaluate_lenet@wide"}
    assert quick_copy.repro("--single-item", "evaluate_lenet@wide", "report") == ["evaluate_lenet@wide", "report"]
    report = (quick_copy.path / "reports/report.md").read_text()
    assert "lenet-wide predictions on the first 9 test images" in report
    assert "lenet-base predictions on the first 25 test images" in report  # not re-run yet


def run_stage(project, *args):
    result = project.run(sys.executable, "-m", *args, check=False)
    return result.returncode, result.stderr.strip().splitlines()


def test_a_corrupt_model_is_one_line_and_leaves_the_metrics_alone(quick_copy):
    metrics = quick_copy.path / "reports/metrics/mlp.json"
    before = metrics.read_bytes()
    (quick_copy.path / "models/mlp.keras").write_bytes(b"PK\x03\x04 not a zip archive")
    code, lines = run_stage(quick_copy, "stages.evaluate", "mlp")
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: models/mlp.keras: not a Keras model archive"), lines
    assert metrics.read_bytes() == before


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("lenet.dropout.epochs", 0),
        ("lenet.dropout.dropout", 1.0),
        ("lenet.dropout.optimizer", "adamax"),
        ("train.steps_per_execution", 0),
    ],
)
def test_a_bad_training_param_stops_before_training(quick_copy, key, value):
    model = quick_copy.path / "models/lenet-dropout.keras"
    before = model.read_bytes()
    quick_copy.set_params(**{key: value})
    code, lines = run_stage(quick_copy, "stages.train_lenet", "dropout")
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: params.yaml: {key}: expected"), lines
    assert model.read_bytes() == before


def test_an_unknown_variant_or_model_is_named(quick_copy):
    code, lines = run_stage(quick_copy, "stages.train_lenet", "resnet")
    assert code == 1
    assert lines == [
        "error: params.yaml: lenet.resnet: unknown key (expected one of: " + ", ".join(PARAMS["lenet"]) + ")"
    ]
    code, lines = run_stage(quick_copy, "stages.evaluate", "lenet-resnet")
    assert code == 1
    assert lines == ["error: models/lenet-resnet.keras: no such model file; run 'dvc repro' for its training stage"]
