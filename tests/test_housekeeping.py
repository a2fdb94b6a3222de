"""Reclaiming space after a sweep: the commands docs/tuning.md gives, run on a quick project.

What must survive them: the committed run (in the cache and through the remote), the experiments
kept, and the reference distribution's recorded runs (DVC's run-cache keeps none of them: their
records are plain `cache: false` outputs, kept in git).
"""

import re
import shlex
import shutil
import subprocess

from conftest import ROOT, Project

SECTION = "## Reclaiming space after a sweep"
REFERENCE_RUN = "run_mlp@42"


def documented_commands():
    """The first shell block of the section, one command a line, comments dropped."""
    text = (ROOT / "docs/tuning.md").read_text()
    section = text[text.index(SECTION) :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def cache_objects(project, cache=".dvc/cache"):
    return {path for path in (project.path / cache / "files").rglob("*") if path.is_file()}


def test_the_documented_clean_up_keeps_the_committed_run_the_kept_experiments_and_the_reference(quick_copy, tmp_path):
    project = quick_copy
    project.dvc("remote", "add", "--default", "team", str(tmp_path / "remote"))
    project.set_params(**{"reference.seeds": [42]})  # one reference run is enough; no pipeline stage reads it
    project.git("commit", "-q", "-am", "a team remote; one reference seed")
    project.dvc("push", "--run-cache")

    # One reference run, committed as `make reference` leaves it.
    reference = Project(project.path / "reference", project.env)
    assert reference.repro("--single-item", REFERENCE_RUN) == [REFERENCE_RUN]
    project.git("add", "reference/runs", "reference/dvc.lock")
    project.git("commit", "-q", "-m", "reference run")

    # A sweep of two training-only runs: one kept, one not.
    for name, rate in (("keep", 0.002), ("drop", 0.003)):
        project.dvc("exp", "run", "--queue", "train_lenet@base", "-S", f"lenet.base.learning_rate={rate}", "-n", name)
    project.dvc("exp", "run", "--run-all", "-j", "1")
    assert sorted(project.dvc("exp", "list", "--name-only").stdout.split()) == ["drop", "keep"]
    before = cache_objects(project)

    for command in documented_commands():
        project.run(*shlex.split(command.replace("<names>", "keep")))

    assert project.dvc("exp", "list", "--name-only").stdout.split() == ["keep"]
    after = cache_objects(project)
    assert after < before  # the dropped run's outputs are gone, and nothing was added

    # The committed run: still whole in the cache, and a fresh clone pulls it from the remote.
    assert project.stale_stages() == set()
    for model in (project.path / "models").glob("*.keras"):
        model.unlink()
    shutil.rmtree(project.path / "reports/training")
    project.dvc("checkout")
    assert project.stale_stages() == set()
    assert project.git("status", "--porcelain", "models", "reports").stdout == ""
    puller = Project(tmp_path / "puller", project.env)
    subprocess.run(["git", "clone", "-q", str(project.path), str(puller.path)], check=True, timeout=120)
    puller.dvc("pull")
    assert puller.stale_stages() == set()

    # The reference's run is a record in git, which the clean-up leaves alone: still up to date.
    assert REFERENCE_RUN not in reference.stale_stages()
    assert project.git("status", "--porcelain", "reference/runs", "reference/dvc.lock").stdout == ""

    # The kept experiment's outputs are still in the cache: applied, its training is not out of date.
    project.dvc("exp", "apply", "keep")
    assert "learning_rate: 0.002" in (project.path / "params.yaml").read_text()
    assert project.stale_stages() == {"evaluate_lenet@base", "report"}  # the run trained only, as queued
