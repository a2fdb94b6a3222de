"""A study fanned out over machines and collected back (ci/study.py, ci/study-job, ci/study.sbatch).

A quick reference study (2 seeds of the MLP and of LeNet-5 on quick params) is run once on one
machine, as `make reference` runs it; then in three fresh clones as the jobs of a matrix, each with
its own empty cache, against the tests' SSH remote, one job failing half-way; then as a SLURM array
on a real single-node SLURM. The collecting clone trains nothing and writes the same summary.
"""

import argparse
import json
import os
import re
import stat
import subprocess
import sys
import uuid

import pytest
import yaml
from conftest import QUICK_PARAMS, ROOT, Project, make_project, ran_stages
from filelock import FileLock
from slurm_cluster import INSTALL_HINT, SlurmCluster, installed
from ssh_server import SSHD

from ci import study

SEEDS = [42, 43]
VARIANT = "base"
RUNS = ["run_lenet@base-42", "run_mlp@42", "run_lenet@base-43", "run_mlp@43"]  # in seed order
FAILING = "run_mlp@43"  # of share 1/3, after run_lenet@base-42
TIMING_LOGS = ("logs/timing.jsonl", "reference/logs/timing.jsonl")
WORKFLOW = ROOT / ".github/workflows/study.yml"


# --- which runs a job makes, without a project ------------------------------------


def test_shares_deal_the_runs_out_in_seed_order_and_cover_each_once():
    names = sorted(
        ["run_mlp@43", "run_lenet@base-42", "run_mlp@42", "run_lenet@base-43", "run_mlp@100"], key=study.seed_order
    )
    assert names == [*RUNS, "run_mlp@100"]
    shares = [study.share(names, index, 3) for index in (1, 2, 3)]
    assert shares == [["run_lenet@base-42", "run_mlp@43"], ["run_mlp@42", "run_mlp@100"], ["run_lenet@base-43"]]
    assert sorted(name for names_of_share in shares for name in names_of_share) == sorted(names)
    assert [study.share_of(name, names, 3) for name in names] == [1, 2, 3, 1, 2]


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", "2/3/4"])
def test_a_share_outside_its_count_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected INDEX/COUNT"):
        study.parse_share(text)


# --- the quick study, on one machine and over clones -------------------------------


class Origin:
    """The team's git repository (a bare one) and DVC remote (the SSH server), holding the quick study's inputs."""

    def __init__(self, git_dir, env, server):
        self.git_dir, self.env, self.server = git_dir, env, server

    def clone(self, path, env=None):
        subprocess.run(["git", "clone", "-q", "-b", "main", str(self.git_dir), str(path)], check=True, timeout=120)
        project = Project(path, env or self.env)
        project.set_credentials(self.server)
        return project

    def branches(self):
        out = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads/study/"],
            cwd=self.git_dir,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        return sorted(out.split())

    def copy(self, path):
        """Another origin with the same main branch and no job branch."""
        subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True, timeout=60)
        subprocess.run(["git", "push", "-q", str(path), "main"], cwd=self.git_dir, check=True, timeout=60)
        return Origin(path, self.env, self.server)


@pytest.fixture(scope="module")
def origin(ssh_server, tmp_path_factory):
    """The quick params, one LeNet variant, two seeds; its data prepared and pushed, nothing of the study run."""
    base = tmp_path_factory.mktemp("study")
    quick = {key: value for key, value in QUICK_PARAMS.items() if not key.startswith("lenet.") or f".{VARIANT}." in key}
    project = make_project(base / "source", **quick, **{"reference.seeds": SEEDS})
    params_path = project.path / "params.yaml"
    raw = yaml.safe_load(params_path.read_text())
    raw["lenet"] = {VARIANT: raw["lenet"][VARIANT]}
    params_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    project.repro("preprocess")
    project.use_remote(ssh_server, uuid.uuid4().hex)
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "quick study: one variant, two seeds; the team's DVC remote")
    project.dvc("push")
    git_dir = base / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], check=True, timeout=60)
    project.git("push", "-q", str(git_dir), "HEAD:main")
    return Origin(git_dir, project.env, ssh_server)


@pytest.fixture(scope="module")
def one_machine(origin, tmp_path_factory):
    """The quick study as `make reference` runs it on one machine: its summary and records.

    Made once for the whole run, whichever pytest-xdist worker asks first (as conftest's quick_project).
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    made = shared / "study-one-machine.json"
    with FileLock(str(shared / "study-one-machine.lock")):
        if not made.exists():
            project = origin.clone(tmp_path_factory.mktemp("one-machine") / "clone")
            project.dvc("pull", "preprocess")
            project.run("make", "-s", "reference-runs", "NPROC=1")
            made.write_text(json.dumps(records(project)))
    return json.loads(made.read_text())


def records(project):
    paths = [project.path / "reference/summary.json", *sorted((project.path / "reference/runs").glob("*/seed-*.json"))]
    return {path.relative_to(project.path).as_posix(): path.read_text() for path in paths}


def study_job(project, *args):
    return project.run(sys.executable, "-m", "ci.study", *args, check=False, timeout=1800)


def trained(project):
    """The trainings this clone ran: lines of the timing logs that training appends to."""
    logs = [project.path / name for name in TIMING_LOGS]
    return [line for log in logs if log.exists() for line in log.read_text().splitlines()]


def failing_python(directory, stage_args):
    """A `python` first on PATH that fails the command `stage_args` names, as a run that crashes would."""
    directory.mkdir()
    shim = directory / "python"
    shim.write_text(
        f'#!/bin/sh\ncase "$*" in *"{stage_args}"*) echo "injected failure" >&2; exit 1;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return directory


def workflow_step(job, command, **values):
    """The `run` of the step of study.yml's `job` that runs `command`, with its ${{ }} expressions filled in."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    text = next(step["run"] for step in workflow["jobs"][job]["steps"] if command in step.get("run", ""))
    return re.sub(r"\$\{\{ *([\w.]+) *\}\}", lambda match: str(values[match.group(1)]), text)


def as_the_workflow(project, job, command, **values):
    """Run a step of .github/workflows/study.yml in `project`, as its runner would (the venv installed)."""
    script = workflow_step(job, command, **{"inputs.study": "reference", "inputs.shares": 3, **values})
    env = {**project.env, "STUDY_VENV": str(ROOT / ".venv"), "STUDY_JOBS": "1"}
    return Project(project.path, env).run("bash", "-e", "-c", script, check=False, timeout=1800)


def test_the_workflow_fans_out_on_a_matrix_and_collects_whatever_failed():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "workflow_dispatch" in workflow[True]  # YAML reads the key `on` as true
    assert workflow["jobs"]["share"]["strategy"]["matrix"]["share"] == "${{ fromJSON(needs.plan.outputs.shares) }}"
    assert workflow["jobs"]["share"]["strategy"]["fail-fast"] is False
    assert workflow["jobs"]["collect"]["if"] == "${{ !cancelled() }}"
    assert workflow_step(
        "share", "ci/study-job", **{"inputs.study": "reference", "matrix.share": 2, "inputs.shares": 3}
    ) == ('ci/study-job "reference" "2/3"')
    for script in ("ci/study-job", "ci/study.sbatch"):
        assert subprocess.run(["bash", "-n", str(ROOT / script)], timeout=30).returncode == 0
    assert '"$clone/ci/study-job" "$study" "$task/$count"' in (ROOT / "ci/study.sbatch").read_text()


def test_three_clones_run_the_shares_and_a_collector_restores_them_training_nothing(origin, one_machine, tmp_path):
    # Share 1 fails half-way: its first run succeeds, its second crashes.
    job_env = {
        **origin.env,
        "PATH": f"{failing_python(tmp_path / 'shim', 'reference_run mlp 43')}:{origin.env['PATH']}",
    }
    first = origin.clone(tmp_path / "job-1", env=job_env)
    result = study_job(first, "job", "reference", "--share", "1/3", "--jobs", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: 1 of 2 runs failed: {FAILING}; run this job again" in result.stderr
    assert len(trained(first)) == 1  # run_lenet@base-42
    for index in (2, 3):  # the workflow's matrix jobs
        job = origin.clone(tmp_path / f"job-{index}")
        result = as_the_workflow(job, "share", "ci/study-job", **{"matrix.share": index})
        assert result.returncode == 0, result.stdout + result.stderr
        assert ran_stages(result.stdout) == study.share(RUNS, index, 3)
    assert origin.branches() == [f"study/reference/share-{index}-of-3" for index in (1, 2, 3)]

    # The workflow's collector has all but the crashed run, names it and its share, and trains nothing.
    collector = origin.clone(tmp_path / "collector")
    result = as_the_workflow(collector, "collect", "ci.study collect")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: 1 of 4 runs have no record made on this commit: {FAILING}; run share 1/3 again" in result.stderr
    assert trained(collector) == []

    # Share 1 again, in a fresh clone: what it made before is kept, only the crashed run trains.
    again = origin.clone(tmp_path / "job-1-again")
    result = as_the_workflow(again, "share", "ci/study-job", **{"matrix.share": 1})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "taken from an earlier try (study/reference/share-1-of-3): run_lenet@base-42" in result.stdout
    assert ran_stages(result.stdout) == [FAILING]
    assert len(trained(again)) == 1

    result = as_the_workflow(collector, "collect", "ci.study collect")
    assert result.returncode == 0, result.stdout + result.stderr
    assert trained(collector) == []
    assert ran_stages(result.stdout) == ["summary"]
    assert records(collector) == one_machine
    status = Project(collector.path / "reference", collector.env).dvc("status", "--json").stdout
    assert json.loads(status) == {}
    assert collector.git("status", "--porcelain", "--", "reference").stdout == ""
    assert "reference: 4 runs collected" in collector.git("log", "-1", "--format=%s").stdout


@pytest.fixture
def slurm(tmp_path):
    if not installed():
        pytest.skip(f"no SLURM: {INSTALL_HINT}")
    cluster = SlurmCluster(tmp_path / "slurm").start()
    yield cluster
    cluster.stop()


@pytest.mark.skipif(not SSHD.exists(), reason="no OpenSSH server: apt-get install openssh-server")
def test_a_slurm_array_runs_the_shares_and_the_collector_writes_the_one_machine_summary(
    origin, one_machine, slurm, tmp_path
):
    team = origin.copy(tmp_path / "team.git")  # no job branch from another test
    commit = subprocess.run(
        ["git", "rev-parse", "main"], cwd=team.git_dir, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    env = slurm.env(
        {
            **origin.env,
            "STUDY_VENV": str(ROOT / ".venv"),
            "DVC_REMOTE_USER": origin.server.user,
            "DVC_REMOTE_KEYFILE": str(origin.server.key),
            "TMPDIR": str(tmp_path),
        }
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    result = subprocess.run(
        [
            "sbatch",
            "--wait",
            "--array=1-3",
            f"--output={logs}/%a.log",
            str(ROOT / "ci/study.sbatch"),
            str(team.git_dir),
            commit,
            "reference",
            "3",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    output = "\n".join(path.read_text() for path in sorted(logs.glob("*.log")))
    assert result.returncode == 0, result.stderr + output
    assert team.branches() == [f"study/reference/share-{index}-of-3" for index in (1, 2, 3)]
    assert sorted(ran_stages(output)) == sorted(RUNS)

    collector = team.clone(tmp_path / "collector")
    result = study_job(collector, "collect", "reference", "--commit")
    assert result.returncode == 0, result.stdout + result.stderr
    assert trained(collector) == []
    assert records(collector) == one_machine
