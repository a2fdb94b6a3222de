"""Throwaway copies of the project, as tests/conftest.py makes them, and what to read back."""

import hashlib
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import yaml

from stages.report import SWEEP_FILE

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_DIRS = ("data/", "models/", "reports/")
INPUTS_AMONG_OUTPUTS = (SWEEP_FILE.as_posix(),)  # committed by hand (README, Tuning); the report stage reads it


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


def match_probes(pairs, probes):
    """Give each stage the probe record of the Python process that ran its cmd."""
    unused = list(probes)
    matched = {}
    for stage, cmd in pairs:
        args = shlex.split(cmd)[1:]
        for record in unused:
            if record["argv"][1:] == args:
                matched[stage] = record
                unused.remove(record)
                break
    return matched


def data_fingerprint(project):
    """A hash of the prepared arrays' contents (the .npz bytes embed write times)."""
    digest = hashlib.sha256()
    for path in sorted((project / "data" / "prepared").glob("*.npz")):
        with np.load(path) as data:
            for key in sorted(data.files):
                digest.update(key.encode() + np.ascontiguousarray(data[key]).tobytes())
    return digest.hexdigest()
