"""The whole pipeline under `dvc repro`, on a small training subset with one-epoch models."""

import json
import sys

import pytest

MODELS = ("mlp", "lenet-base", "lenet-dropout", "lenet-batchnorm")


def test_every_model_trains_and_is_evaluated(quick_project):
    ran = set(quick_project.ran)
    assert {"train_mlp", "train_lenet@base", "train_lenet@dropout", "train_lenet@batchnorm", "report"} <= ran
    for model in MODELS:
        assert f"evaluate@{model}" in ran
        assert (quick_project.path / f"models/{model}.keras").is_file()


def test_metrics_show_lists_every_model(quick_project):
    shown = json.loads(quick_project.dvc("metrics", "show", "--json").stdout)[""]["data"]
    for model in MODELS:
        metrics = shown[f"reports/metrics/{model}.json"]["data"]
        assert 0.1 < metrics["test"]["accuracy"] <= 1.0
        assert metrics["test"]["loss"] > 0
        assert metrics["params"]["total"] == {"mlp": 109_386, "lenet-batchnorm": 62_274}.get(model, 61_706)
        assert set(metrics["per_class"]) >= {"T-shirt/top", "Ankle boot"}


def test_evaluation_writes_predictions_and_figures(quick_project):
    for model in MODELS:
        lines = (quick_project.path / f"reports/predictions/{model}.csv").read_text().splitlines()
        assert lines[0] == "actual,predicted" and len(lines) == 10_001
        for figure in ("curves.png", "confusion_matrix.png", "predictions.png"):
            assert (quick_project.path / f"reports/figures/{model}/{figure}").stat().st_size > 10_000


def stale_stages(project):
    return set(json.loads(project.dvc("status", "--json").stdout))


def test_changing_dropout_epochs_makes_only_the_dropout_model_stale(quick_copy):
    assert stale_stages(quick_copy) == set()
    quick_copy.set_params(**{"lenet.dropout.epochs": 2})
    # dvc status names what is stale now; what follows a stage goes stale once it has run.
    assert stale_stages(quick_copy) == {"train_lenet@dropout"}
    assert quick_copy.repro("--single-item", "train_lenet@dropout") == ["train_lenet@dropout"]
    assert stale_stages(quick_copy) == {"evaluate@lenet-dropout", "report"}


def test_same_params_give_byte_identical_metrics(quick_copy):
    paths = [quick_copy.path / f"reports/{name}" for name in (
        "metrics/mlp.json", "metrics/lenet-batchnorm.json",
        "training/mlp/training.json", "training/lenet-batchnorm/history.csv")]
    before = [p.read_bytes() for p in paths]
    quick_copy.dvc("repro", "--force", "--single-item", "train_mlp", "evaluate@mlp",
                   "train_lenet@batchnorm", "evaluate@lenet-batchnorm")
    assert [p.read_bytes() for p in paths] == before


def run_stage(project, *args):
    result = project.run(sys.executable, "-m", *args, check=False)
    return result.returncode, result.stderr.strip().splitlines()


def test_a_corrupt_model_is_one_line_and_leaves_the_metrics_alone(quick_copy):
    metrics = quick_copy.path / "reports/metrics/mlp.json"
    before = metrics.read_bytes()
    (quick_copy.path / "models/mlp.keras").write_bytes(b"PK\x03\x04 not a zip archive")
    code, lines = run_stage(quick_copy, "stages.evaluate", "mlp")
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("error: models/mlp.keras: not a Keras model archive"), lines
    assert metrics.read_bytes() == before


@pytest.mark.parametrize("key, value", [("lenet.dropout.epochs", 0), ("lenet.dropout.dropout", 1.0),
                                        ("lenet.dropout.optimizer", "adamax"), ("train.steps_per_execution", 0)])
def test_a_bad_training_param_stops_before_training(quick_copy, key, value):
    model = quick_copy.path / "models/lenet-dropout.keras"
    before = model.read_bytes()
    quick_copy.set_params(**{key: value})
    code, lines = run_stage(quick_copy, "stages.train_lenet", "dropout")
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(f"error: params.yaml: {key}: expected"), lines
    assert model.read_bytes() == before


def test_an_unknown_variant_is_named(quick_copy):
    code, lines = run_stage(quick_copy, "stages.train_lenet", "resnet")
    assert code == 1
    assert lines == ["error: params.yaml: lenet.resnet: unknown variant (expected one of: base, dropout, batchnorm)"]
