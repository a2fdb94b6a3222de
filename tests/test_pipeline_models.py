"""The whole pipeline under `dvc repro`, on a small training subset with one-epoch models."""

import json

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
