"""`make reference` and `make verify` for real: a quick-params reference built here, then three runs judged."""

import json
import re

from conftest import QUICK_PARAMS

SEEDS = (42, 43, 44, 45)
SCHEDULE = '    if fit.schedule.kind != "cosine":\n'
SEED_LINE = "    keras.utils.set_random_seed(seed)\n"


def verdict(project, *command):
    """({model: verdict}, exit status, output) of the verdict: `python -m ci.verify`, whose status make turns to 2."""
    result = project.run(*(command or ("python", "-m", "ci.verify")), check=False)
    found = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^  (\S+(?: and Part 1)?) +(identical|within|OUTSIDE|not judged) ", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found, result.returncode, result.stdout + result.stderr


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
    assert project.run("make", "-s", "verify", check=False).returncode != 0  # so make repro fails too

    (project.path / "reference/summary.json").write_text("{}")
    found, status, output = verdict(project)
    assert status == 2
    assert found == {}
    assert re.search(r"error: reference/summary.json: not a reference summary \(.*\)", output), output
