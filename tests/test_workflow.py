"""README's walkthrough, command by command, on the quick pipeline: what a DVC user relies on."""

import fcntl
import json
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import termios
import time

import pytest
import yaml
from conftest import DATA_STAGES, PARAMS, ROOT, Project, ran_stages

from stages import models

MODELS = models.names(PARAMS)
TRAIN_STAGES = [models.stages(model)["train"] for model in MODELS]
EVALUATE_STAGES = [models.stages(model)["evaluate"] for model in MODELS]


def metrics_of(project, model, rev=""):
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    return shown[rev]["data"][f"reports/metrics/{model}.json"]["data"]


def test_second_repro_runs_nothing(quick_copy):
    assert quick_copy.repro() == []
    assert quick_copy.dvc("status", "--json").stdout.strip() == "{}"


def test_report_is_generated_from_the_measured_numbers(quick_project):
    report = (quick_project.path / "reports/report.md").read_text()
    accuracy = metrics_of(quick_project, "lenet-batchnorm")["test"]["accuracy"]
    assert f"{accuracy:.4f}" in report
    assert "0.1332476222330792" in report
    assert "| Ankle boot |" in report  # a per-class table
    for figure in (
        "figures/samples_dev.png",
        "figures/mlp/curves.png",
        "figures/lenet-dropout/confusion_matrix.png",
        "figures/lenet-base/predictions.png",
    ):
        assert f"({figure})" in report
        assert (quick_project.path / "reports" / figure).is_file()


def test_exp_run_reruns_only_the_changed_model_and_readme_compares_it_in_160_columns(quick_copy):
    before = metrics_of(quick_copy, "lenet-dropout")["test"]["accuracy"]
    assert quick_copy.stale_stages() == set()
    quick_copy.set_params(**{"lenet.dropout.epochs": 2})
    # dvc status names what is stale now; what follows a stage goes stale once it has run.
    assert quick_copy.stale_stages() == {"train_lenet@dropout", "report"}
    assert quick_copy.repro("--single-item", "train_lenet@dropout") == ["train_lenet@dropout"]
    assert quick_copy.stale_stages() == {"evaluate_lenet@dropout", "report"}
    output = quick_copy.dvc("exp", "run").stdout  # the experiment takes the trained model and evaluates it
    assert sorted(ran_stages(output)) == ["evaluate_lenet@dropout", "report"]
    # The workspace now holds the experiment's results: metrics diff compares them with HEAD.
    diff = json.loads(quick_copy.dvc("metrics", "diff", "--json").stdout)
    assert "reports/metrics/lenet-dropout.json" in diff
    assert not any(m in path for path in diff for m in ("mlp", "lenet-base", "lenet-batchnorm"))
    assert "| lenet-dropout | 61,706 | 2 |" in (quick_copy.path / "reports/report.md").read_text()
    shown = json.loads(quick_copy.dvc("exp", "show", "--json").stdout)
    assert any(
        exp_params(shown_exp).get("lenet", {}).get("dropout", {}).get("epochs") == 2 for shown_exp in experiments(shown)
    )

    after = metrics_of(quick_copy, "lenet-dropout")["test"]["accuracy"]
    assert before != after
    commands = readme_block("### Comparing runs")
    assert len(commands) >= 3
    for command in commands:
        output = in_terminal(quick_copy, command)
        assert "…" not in output, f"{command}:\n{output}"
        assert max(map(len, output.splitlines())) <= 160, f"{command}:\n{output}"
        if "test" in command or command == "dvc metrics diff":
            assert str(before) in output, f"{command}:\n{output}"
            assert str(after) in output, f"{command}:\n{output}"


def experiments(shown):
    """Every experiment record in `dvc exp show --json` output."""
    for commit in shown:
        for exp in commit.get("experiments") or []:
            yield from exp.get("revs", [])


def exp_params(revision):
    return revision["data"]["params"]["params.yaml"]["data"]


def test_editing_mlp_stage_code_retrains_only_the_mlp_and_undoing_it_restores_from_the_run_cache(quick_copy):
    path = quick_copy.path / "stages/train_mlp.py"
    original = path.read_text()
    metrics = (quick_copy.path / "reports/metrics/mlp.json").read_bytes()
    path.write_text(original + "# a comment: the stage's code changed, its outputs did not\n")
    # The same network again: byte-identical outputs, so nothing downstream re-runs.
    assert quick_copy.repro() == ["train_mlp"]
    path.write_text(original.replace('"mlp", config,', '"mlp", config.model_copy(update={"activation": "tanh"}),'))
    assert sorted(quick_copy.repro()) == ["evaluate_mlp", "report", "train_mlp"]
    quick_copy.dvc("plots", "diff", "HEAD", "-o", "diffed")
    assert "mlp: loss, train and validation" in (quick_copy.path / "diffed/index.html").read_text()

    path.write_text(original)
    output = quick_copy.dvc("repro").stdout
    for stage in ("train_mlp", "evaluate_mlp"):
        assert f"Stage '{stage}' is cached - skipping run" in output, output
    assert (quick_copy.path / "reports/metrics/mlp.json").read_bytes() == metrics
    assert quick_copy.dvc("status", "--json").stdout.strip() == "{}"


def test_editing_preprocessing_reruns_it_and_makes_what_follows_stale_but_not_download(quick_copy):
    path = quick_copy.path / "stages/preprocess.py"
    path.write_text(
        path.read_text().replace(
            "train_size=max_samples, stratify=labels, random_state=seed",
            "train_size=max_samples, stratify=labels, random_state=seed + 1",
        )
    )
    assert quick_copy.repro("preprocess") == ["preprocess"]  # download, upstream, is up to date
    # What `dvc repro` would re-run next, without retraining every model to show it:
    stale = quick_copy.stale_stages()
    assert stale == set(TRAIN_STAGES + EVALUATE_STAGES + ["report"])


def test_plots_show_renders_every_model(quick_copy):
    quick_copy.dvc("plots", "show", "-o", "shown")
    html = (quick_copy.path / "shown/index.html").read_text()
    for model in MODELS:
        assert f"{model}: accuracy, train and validation" in html
        assert f"{model}: loss, train and validation" in html
        assert f"{model}: confusion matrix (test set)" in html
        assert f"{model}: F1 per class (test set)" in html


def test_a_queued_training_only_grid_is_compared_then_the_best_applied_and_evaluated(quick_copy):
    """docs/tuning.md#the-sweep-recipe in small: a grid of training-only runs, compared on validation accuracy; the
    chosen one applied, and only then evaluated on the test set."""
    baseline = metrics_of(quick_copy, "lenet-base")
    quick_copy.dvc("exp", "run", "--queue", "train_lenet@base", "-S", "lenet.base.dropout=0.1,0.2")
    quick_copy.dvc("queue", "start")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = quick_copy.dvc("queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    assert status.count("Success") == 2, status
    runs = [rev for rev in experiments(json.loads(quick_copy.dvc("exp", "show", "--json").stdout)) if rev.get("name")]
    assert sorted(exp_params(rev)["lenet"]["base"]["dropout"] for rev in runs) == [0.1, 0.2]
    for rev in runs:
        metrics = rev["data"]["metrics"]
        assert 0 < metrics["reports/live/lenet-base/metrics.json"]["data"]["best_val_accuracy"] <= 1
        assert metrics["reports/metrics/lenet-base.json"]["data"] == baseline  # not evaluated on the test set

    chosen = next(rev for rev in runs if exp_params(rev)["lenet"]["base"]["dropout"] == 0.2)
    quick_copy.dvc("exp", "apply", chosen["name"])
    assert yaml.safe_load((quick_copy.path / "params.yaml").read_text())["lenet"]["base"]["dropout"] == 0.2
    validation = chosen["data"]["metrics"]["reports/live/lenet-base/metrics.json"]["data"]
    assert json.loads((quick_copy.path / "reports/live/lenet-base/metrics.json").read_text()) == validation
    assert sorted(quick_copy.repro()) == ["evaluate_lenet@base", "report"]  # training came with the experiment
    assert metrics_of(quick_copy, "lenet-base") != baseline
    assert quick_copy.dvc("status", "--json").stdout.strip() == "{}"


def test_remote_round_trip_needs_no_retraining(quick_copy, tmp_path):
    remote = tmp_path / "remote"
    quick_copy.dvc("remote", "add", "--default", "shared", str(remote))
    quick_copy.git("commit", "-q", "-am", "add the shared remote")
    quick_copy.dvc("push")

    clone = Project(tmp_path / "teammate", quick_copy.env)
    subprocess.run(["git", "clone", "-q", str(quick_copy.path), str(clone.path)], check=True, timeout=120)
    assert not (clone.path / "models/mlp.keras").exists()
    clone.dvc("pull")
    assert (clone.path / "models/mlp.keras").is_file()
    assert clone.dvc("status", "--json").stdout.strip() == "{}"
    assert clone.repro() == []
    assert metrics_of(clone, "mlp") == metrics_of(quick_copy, "mlp")


TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} |WARNING: All log messages|tensorflow|oneDNN", re.IGNORECASE)


# Two halves of the forced re-run, so that the two test workers share it: half 1 also re-runs what no model owns.
ARMS = {model: [train, evaluate] for model, train, evaluate in zip(MODELS, TRAIN_STAGES, EVALUATE_STAGES, strict=True)}


@pytest.mark.parametrize("half", [0, 1])
def test_a_forced_rerun_reproduces_every_tracked_byte_and_prints_only_the_stages_lines(quick_copy, half):
    """Same params, same machine: dvc.lock (models included) and every committed report are unchanged.

    The copy was built in parallel arms (`make pipeline`); this re-run goes one stage at a time, so
    both give the same bytes. Every training and evaluation it runs also shows what they print.
    """
    models = MODELS[half::2]
    stages = [stage for model in models for stage in ARMS[model]]
    if half == 1:
        stages = [*DATA_STAGES, *stages, "report"]
    result = quick_copy.dvc("repro", "--force", "--no-run-cache", "--single-item", *stages)
    assert ran_stages(result.stdout) == stages
    assert quick_copy.git("status", "--porcelain").stdout == ""
    lines = (result.stdout + result.stderr).splitlines()
    assert [line for line in lines if TF_LOG_LINE.search(line)] == []
    lenet_models = [model for model in models if model.startswith("lenet-")]
    for model in lenet_models:  # one line an epoch, named
        assert sum(line.startswith(f"{model} epoch 1/1: ") for line in lines) == 1, model
    for model in models:
        assert sum(line.startswith(f"{model}: test loss") for line in lines) == 1, model


def test_the_forced_reruns_halves_cover_every_stage(quick_project):
    halves = [stage for arm in ARMS.values() for stage in arm] + [*DATA_STAGES, "report"]
    assert sorted(halves) == sorted(quick_project.dvc("stage", "list", "--name-only").stdout.split())


def readme_block(heading):
    """The `dvc` commands of the first shell block after `heading` in README.md."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index(heading) :].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.startswith("dvc ")]


def in_terminal(project, command, columns=160):
    """`command`'s output as a terminal `columns` wide shows it (DVC draws tables for terminals)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        shlex.split(command),
        cwd=project.path,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**project.env, "COLUMNS": str(columns), "TERM": "xterm"},
    )
    os.close(slave)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            chunk = os.read(master, 65536) if ready else b""
            if not chunk:
                break
            output += chunk
    except OSError:  # EIO: the command closed the terminal
        pass
    finally:
        os.close(master)
        process.wait(timeout=120)
    assert process.returncode == 0, output.decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;]*m", "", output.decode())
