"""`make reference`, `make verify` and `make repro` for real: a quick-params reference built here and three runs
judged against it; a fresh clone's verdict before any run, and a quick experiment's after `make repro`; a
portable output tampered with."""

import json
import re
import shutil

import numpy as np
from conftest import QUICK_PARAMS, ROOT, make_project

from stages import params
from stages.artifacts import save_npz

SEEDS = (42, 43, 44, 45)
SCHEDULE = '    if fit.schedule.kind != "cosine":\n'
SEED_LINE = "    keras.utils.set_random_seed(seed)\n"


def verdict(project, *command):
    """({line: verdict}, exit status, output) of the verdict: `python -m ci.verify`, whose status make turns to 2."""
    result = project.run(*(command or ("python", "-m", "ci.verify")), check=False)
    found = {name: verdict for name, verdict, _ in verdict_lines(result.stdout)}
    return found, result.returncode, result.stdout + result.stderr


def verdict_lines(output):
    """[(line, verdict, detail)] as the verdict prints them."""
    line = r"^  (\S+(?: and Part 1)?) +(identical|within|OUTSIDE|not judged|not reproduced)  (.*)$"
    return re.findall(line, output, re.MULTILINE)


def retrain_mlp(project):
    project.dvc("repro", "--single-item", "train_mlp", "evaluate_mlp")


def patch(project, path, old, new):
    file = project.path / path
    text = file.read_text()
    assert old in text, f"{path} no longer holds the line this test patches"
    file.write_text(text.replace(old, new))


def test_a_run_is_identical_within_or_outside_against_a_reference_of_a_few_seeds(quick_copy):
    """The MLP on quick params: its reference of four seeds, then the committed run, another draw, a broken one."""
    project = quick_copy
    only = "^run_mlp@(" + "|".join(map(str, SEEDS)) + ")$"
    project.run("make", "-s", "reference-runs", f"ONLY={only}")
    summary = json.loads((project.path / "reference/summary.json").read_text())
    assert summary["models"]["mlp"]["n"] == len(SEEDS)
    assert summary["split"]["data"]["max_train_samples"] == QUICK_PARAMS["data.max_train_samples"]
    # The reference's seed 42 is the pipeline's model, bit for bit on one machine.
    run_42 = json.loads((project.path / "reference/runs/mlp/seed-42.json").read_text())
    assert run_42["test"] == json.loads((project.path / "reports/metrics/mlp.json").read_text())["test"]
    # Each record keeps its curves' overfitting signs, and the summary gives them over the seeds.
    assert set(run_42["overfitting"]) == {"accuracy_gap", "val_loss_rise", "min_val_loss_epoch"}
    assert set(summary["models"]["mlp"]["overfitting"]["accuracy_gap"]) == {"mean", "std"}
    # The study touches no stage of the pipeline but the report, which shows its summary: one re-render.
    status = project.dvc("status", "dvc.yaml").stdout
    assert re.fullmatch(r"report:\s+changed deps:\s+modified:\s+reference/summary.json\s*", status), status
    project.dvc("repro", "--single-item", "report")
    assert project.dvc("status", "dvc.yaml").stdout.strip() == "Data and pipelines are up to date."
    report = (project.path / "reports/report.md").read_text()
    assert f"| `mlp` | {len(SEEDS)} | " in report.split("## Every model over seeds")[1]

    found, status, output = verdict(project, "make", "-s", "verify")
    assert status == 0, output
    assert found["data and Part 1"] == "identical", output
    assert found["mlp"] == "identical", output
    assert found["lenet-base"] == "identical", output  # its outputs are as committed: no reference needed

    # Another draw of the same training, as another CPU model makes: the seed one further on.
    patch(project, "stages/training.py", SEED_LINE, SEED_LINE.replace("(seed)", "(seed + 1)"))
    retrain_mlp(project)
    found, status, output = verdict(project)
    assert (found["mlp"], status) == ("within", 0), output
    assert "Bits differ from the committed run's for mlp" in output

    # A broken training: a learning rate 100 times too large.
    broken = '    fit = fit.model_copy(update={"learning_rate": 100 * fit.learning_rate})\n'
    patch(project, "stages/training.py", SCHEDULE, broken + SCHEDULE)
    retrain_mlp(project)
    found, status, output = verdict(project)
    assert (found["mlp"], status) == ("OUTSIDE", 1), output
    assert "a 99.50% prediction interval" in output  # one model judged: two figures share the 1%
    make = project.run("make", "-s", "verify", check=False)  # so make repro fails too, with make's own status
    assert make.returncode == 2, make.stderr
    assert "verify] Error 1" in make.stderr, make.stderr

    (project.path / "reference/summary.json").write_text("{}")
    found, status, output = verdict(project)
    assert status == 2
    assert found == {}
    assert re.search(r"error: reference/summary.json: not a reference summary \(.*\)", output), output


def test_before_any_run_make_verify_says_run_make_repro_and_a_quick_experiment_passes_make_repro(tmp_path):
    """A fresh clone of the repository with its committed run (dvc.lock, none of its outputs), set to quick params,
    another seed and other Part 1 and plot params: first `make verify`, then `make repro`.

    Another seed draws another split, so nothing of the shared quick run serves: this run is the test's own, on
    two models only (every training or evaluation imports TensorFlow; the rule is the same for every model)."""
    changes = {"seed": 11, "scratch.gradcheck_epsilon": 1e-5, "plots.samples_grid": 4, "plots.predictions_grid": 4}
    project = make_project(tmp_path / "clone", **QUICK_PARAMS, **changes)
    variant, config = next(iter(params.load(project.path / "params.yaml")["lenet"].items()))
    project.set_params(lenet={variant: config})
    shutil.copy(ROOT / "dvc.lock", project.path / "dvc.lock")
    project.git("add", "dvc.lock", "params.yaml")
    project.git("commit", "-q", "-m", "the committed run")

    found, status, output = verdict(project, "make", "-s", "verify")
    assert status == 2, output
    assert set(found.values()) == {"not reproduced"}, output
    assert "run make repro" in output, output
    assert "OUTSIDE" not in output, output
    found, status, output = verdict(project)
    assert status == 2, output  # ci.verify's own status, which make's 2 hides

    make = project.run("make", "-s", "-o", "setup", f"VENV={ROOT / '.venv'}", "repro", check=False)
    assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-3000:]
    found = verdict_lines(make.stdout)
    assert {verdict for _, verdict, _ in found} == {"not judged"}, make.stdout
    lines = {name: detail for name, _, detail in found}
    for key in ("seed", "data.max_train_samples", "scratch.gradcheck_epsilon", "plots.samples_grid"):
        assert key in lines["data and Part 1"], lines
    for key in ("seed", "data.max_train_samples", "mlp.epochs", "plots.predictions_grid"):
        assert key in lines["mlp"], lines
    assert "scratch" not in lines["mlp"], lines
    assert "plots.samples_grid" not in lines["mlp"], lines
    assert set(lines) == {"data and Part 1", "mlp", f"lenet-{variant}"}, lines


def test_a_prepared_array_with_other_bits_under_the_committed_params_is_outside(quick_copy):
    """One value of one prepared array changed, and recorded in dvc.lock as if preprocess had written it."""
    project = quick_copy
    path = project.path / "data/prepared/val.npz"
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["x"][0, 0] = 1 - arrays["x"][0, 0]
    path.unlink()  # DVC links outputs to its cache: replace the link, never write through it
    save_npz(path, **arrays)
    project.dvc("commit", "-f", "preprocess")

    found, status, output = verdict(project)
    assert (found["data and Part 1"], status) == ("OUTSIDE", 1), output
    assert "differ: preprocess" in output
    assert set(found.values()) == {"OUTSIDE", "not reproduced"}, output  # every model reads the arrays
    make = project.run("make", "-s", "verify", check=False)
    assert make.returncode == 2, make.stderr
    assert "verify] Error 1" in make.stderr, make.stderr
