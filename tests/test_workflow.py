"""README's walkthrough, command by command, on the quick pipeline: what a DVC user relies on."""

import json
import subprocess

from conftest import Project, ran_stages


def metrics_of(project, model, rev=""):
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    return shown[rev]["data"][f"reports/metrics/{model}.json"]["data"]


def test_second_repro_runs_nothing(quick_project):
    assert quick_project.repro() == []
    assert quick_project.dvc("status", "--json").stdout.strip() == "{}"


def test_report_is_generated_from_the_measured_numbers(quick_project):
    report = (quick_project.path / "reports/report.md").read_text()
    accuracy = metrics_of(quick_project, "lenet-batchnorm")["test"]["accuracy"]
    assert f"{accuracy:.4f}" in report
    assert "0.1332476222330792" in report
    for figure in ("figures/samples_dev.png", "figures/mlp/curves.png", "figures/lenet-dropout/confusion_matrix.png",
                   "figures/lenet-base/predictions.png"):
        assert f"({figure})" in report
        assert (quick_project.path / "reports" / figure).is_file()


def test_exp_run_reruns_only_the_changed_model_and_the_report(quick_copy):
    output = quick_copy.dvc("exp", "run", "-S", "lenet.dropout.epochs=2").stdout
    assert sorted(ran_stages(output)) == ["evaluate@lenet-dropout", "report", "train_lenet@dropout"]
    # The workspace now holds the experiment's results: metrics diff compares them with HEAD.
    diff = json.loads(quick_copy.dvc("metrics", "diff", "--json").stdout)
    assert "reports/metrics/lenet-dropout.json" in diff
    assert not any(m in path for path in diff for m in ("mlp", "lenet-base", "lenet-batchnorm"))
    assert "| lenet-dropout | 61,706 (0 non-trainable) | 2 |" in (quick_copy.path / "reports/report.md").read_text()
    shown = json.loads(quick_copy.dvc("exp", "show", "--json").stdout)
    assert any(exp_params(shown_exp).get("lenet", {}).get("dropout", {}).get("epochs") == 2
               for shown_exp in experiments(shown))


def experiments(shown):
    """Every experiment record in `dvc exp show --json` output."""
    for commit in shown:
        for exp in commit.get("experiments") or []:
            for revision in exp.get("revs", []):
                yield revision


def exp_params(revision):
    return revision["data"]["params"]["params.yaml"]["data"]


def test_editing_mlp_model_code_reruns_only_the_mlp(quick_copy):
    path = quick_copy.path / "stages/train_mlp.py"
    path.write_text(path.read_text().replace(
        "keras.layers.Dense(units, activation=activation)",
        "keras.layers.Dense(units, activation=activation, use_bias=True)"))
    assert sorted(quick_copy.repro()) == ["evaluate@mlp", "report", "train_mlp"]


def test_editing_preprocessing_reruns_it_and_what_follows_but_not_download(quick_copy):
    path = quick_copy.path / "stages/preprocess.py"
    path.write_text(path.read_text().replace("np.savez(tmp,", "np.savez_compressed(tmp,"))
    ran = quick_copy.repro()
    assert "download" not in ran and ran[0] == "preprocess"
    for stage in ("train_mlp", "train_lenet@base", "train_lenet@dropout", "train_lenet@batchnorm",
                  "evaluate@mlp", "evaluate@lenet-base", "evaluate@lenet-dropout", "evaluate@lenet-batchnorm",
                  "report"):
        assert stage in ran
    assert "scratch_backprop" not in ran and "plot_samples" not in ran


def test_plots_show_and_diff_render_every_model(quick_copy):
    quick_copy.dvc("plots", "show", "-o", "shown")
    html = (quick_copy.path / "shown/index.html").read_text()
    for model in ("mlp", "lenet-base", "lenet-dropout", "lenet-batchnorm"):
        assert f"{model}: train vs validation accuracy" in html
        assert f"{model}: train vs validation loss" in html
        assert f"{model}: confusion matrix (test set)" in html
    quick_copy.set_params(**{"mlp.epochs": 3})
    quick_copy.repro("evaluate@mlp")
    quick_copy.dvc("plots", "diff", "HEAD", "-o", "diffed")
    assert "mlp: train vs validation loss" in (quick_copy.path / "diffed/index.html").read_text()


def test_queued_experiments_run_and_one_is_applied(quick_copy):
    for epochs in (1, 3):
        quick_copy.dvc("exp", "run", "--queue", "-S", f"mlp.epochs={epochs}", "-n", f"mlp-{epochs}-epochs")
    quick_copy.dvc("queue", "start")
    wait = quick_copy.dvc("queue", "logs", "mlp-3-epochs", "--follow", check=False)
    status = quick_copy.dvc("queue", "status").stdout
    assert status.count("Success") == 2, status + wait.stdout + wait.stderr
    shown = json.loads(quick_copy.dvc("exp", "show", "--json").stdout)
    names = {rev.get("name") for rev in experiments(shown)}
    assert {"mlp-1-epochs", "mlp-3-epochs"} <= names

    quick_copy.dvc("exp", "apply", "mlp-3-epochs")
    assert "epochs: 3" in (quick_copy.path / "params.yaml").read_text().split("mlp:")[1].split("lenet:")[0]
    record = json.loads((quick_copy.path / "reports/training/mlp/training.json").read_text())
    assert record["fit"]["epochs"] == 3
    assert quick_copy.dvc("status", "--json").stdout.strip() == "{}"


def test_remote_round_trip_needs_no_retraining(quick_copy, tmp_path):
    remote = tmp_path / "remote"
    quick_copy.dvc("remote", "add", "--default", "shared", str(remote))
    quick_copy.git("commit", "-q", "-am", "add the shared remote")
    quick_copy.dvc("push")

    clone = Project(tmp_path / "teammate", quick_copy.env)
    subprocess.run(["git", "clone", "-q", str(quick_copy.path), str(clone.path)], check=True)
    assert not (clone.path / "models/mlp.keras").exists()
    clone.dvc("pull")
    assert (clone.path / "models/mlp.keras").is_file()
    assert clone.dvc("status", "--json").stdout.strip() == "{}"
    assert clone.repro() == []
    assert metrics_of(clone, "mlp") == metrics_of(quick_copy, "mlp")
