"""Throwaway copies of the project, as tests/conftest.py makes them, and what to read back."""

import hashlib
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import yaml

from stages.common import model_outputs
from stages.report import SCHEDULE_STUDY_FILE, SWEEP_FILE

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_DIRS = ("data/", "models/", "reports/", "reference/runs/")
# The reference study's record of its runs: a copy starts without it, as it starts without the pipeline's.
# Its summary stays: the report stage reads it.
REFERENCE_RESULTS = ("reference/dvc.lock",)
# Committed by hand (docs/tuning.md); the report stage reads them.
INPUTS_AMONG_OUTPUTS = (SWEEP_FILE.as_posix(), SCHEDULE_STUDY_FILE.as_posix())


def copied_files():
    """The files git would see, minus anything a previous run produced.

    The working tree holds outputs of earlier runs (cache: false outs are not
    git-ignored) and dvc.lock: copied, they would make stages look up to date
    and the "cold" repro would not be cold.
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    return [
        f
        for f in listed
        if f
        and (ROOT / f).is_file()
        and f != "dvc.lock"
        and f not in REFERENCE_RESULTS
        and not f.startswith("benchmarks/")
        and not (f.startswith(OUTPUT_DIRS) and not f.endswith(".gitignore") and f not in INPUTS_AMONG_OUTPUTS)
    ]


def make_copy(path, params, env):
    """Copy the project into `path`, apply dotted-key params, commit: ready for `dvc repro`."""
    path.mkdir(parents=True)
    for name in copied_files():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    if params:
        set_params(path / "params.yaml", params)
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "bench@example.invalid"],
        ["config", "user.name", "bench"],
        ["add", "-A"],
        ["commit", "-q", "-m", "benchmark copy"],
    ):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    return path


def set_params(params_path, dotted):
    params = yaml.safe_load(params_path.read_text())
    for key, value in dotted.items():
        node = params
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))


def lenet_variants_params(project=ROOT):
    return yaml.safe_load((project / "params.yaml").read_text())["lenet"]


def lenet_variants(project=ROOT):
    return list(lenet_variants_params(project))


def ran_stages(repro_output):
    """(stage, cmd) pairs from `dvc repro` output: "Running stage 'X':" then "> cmd"."""
    pairs, lines = [], repro_output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Running stage '"):
            cmd = next((text[2:] for text in lines[i + 1 : i + 3] if text.startswith("> ")), "")
            pairs.append((line.split("'")[1], cmd))
    return pairs


def lock_stages(project):
    """dvc.lock's `stages` mapping: each stage's cmd and the hashes of its deps, params and outs."""
    path = project / "dvc.lock"
    return yaml.safe_load(path.read_text())["stages"] if path.exists() else {}


def cold_run_stages(repro_output, lock):
    """(stage, cmd) for every stage a cold run in a fresh copy ran: all of dvc.lock's, then any the log names besides.

    The cmd comes from dvc.lock where it can: when several dvc processes write to one log,
    the "> cmd" line need not follow its own "Running stage" line.
    """
    pairs = [(stage, entry["cmd"]) for stage, entry in lock.items()]
    return pairs + [(stage, cmd) for stage, cmd in ran_stages(repro_output) if stage not in lock]


def match_probes(pairs, probes):
    """Each stage's probe records: those of the Python processes that ran its cmd, by argv (one, unless it re-ran)."""
    matched = {}
    for stage, cmd in pairs:
        args = shlex.split(cmd)[1:]  # argv[0] is however the shell found python
        matched[stage] = sorted((r for r in probes if r["argv"][1:] == args), key=lambda r: r["start"])
    return matched


def read_probes(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def model_records(project):
    """Per model, what training and evaluation wrote: settings, sample count, timing and accuracy."""
    timings = {r["model"]: r for r in map(json.loads, (project / "logs/timing.jsonl").read_text().splitlines())}
    records = {}
    for model in ["mlp"] + [f"lenet-{variant}" for variant in lenet_variants(project)]:
        training = json.loads((project / f"reports/training/{model}/training.json").read_text())
        validation = json.loads((project / model_outputs(model)["summary"]).read_text())
        metrics = json.loads((project / f"reports/metrics/{model}.json").read_text())
        records[model] = {
            "epochs": training["config"]["epochs"],
            "batch_size": training["config"]["batch_size"],
            "n_train": training["train_samples"],
            "intra_op_threads": training["bits_decided_by"]["intra_op_threads"],
            "params": training["params"]["total"],
            "fit_seconds": timings[model]["fit_seconds"],
            "samples_per_second": timings[model]["samples_per_second"],
            "best_val_accuracy": validation["best_val_accuracy"],
            "test_accuracy": metrics["test"]["accuracy"],
        }
    return records


def data_fingerprint(project):
    """A hash of the prepared arrays' contents (the .npz bytes embed write times)."""
    digest = hashlib.sha256()
    for path in sorted((project / "data" / "prepared").glob("*.npz")):
        with np.load(path) as data:
            for key in sorted(data.files):
                digest.update(key.encode() + np.ascontiguousarray(data[key]).tobytes())
    return digest.hexdigest()
