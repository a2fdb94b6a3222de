"""Bad input: one line naming the file or key, a non-zero exit, nothing half-written."""

import shutil
import subprocess
import sys

import pytest
from conftest import DATA_DIR, Project, make_project

from stages.pricing import SWEEPS_DIR
from stages.report import SCHEDULE_STUDY_FILE, SWEEP_FILE

pytestmark = pytest.mark.integration  # a copy of the project on the real data


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "project")


def run_stage(project: Project, stage, **env):
    result = subprocess.run(
        [sys.executable, "-m", f"stages.{stage}"],
        cwd=project.path,
        env={**project.env, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stderr.strip().splitlines()


def files_under(path):
    """What a stage wrote: every file but those the repository holds (.gitignore files, the sweep tables)."""
    committed = {".gitignore", SWEEP_FILE.name, SCHEDULE_STUDY_FILE.name}
    written = [p for p in path.rglob("*") if p.is_file() and p.name not in committed and SWEEPS_DIR.name not in p.parts]
    return sorted(p.name for p in written) if path.exists() else []


@pytest.mark.parametrize(
    ("stage", "key", "value", "outputs"),
    [
        ("preprocess", "data.val_fraction", 1.0, "data/prepared"),
        ("preprocess", "seed", "zero", "data/prepared"),
        ("scratch_backprop", "scratch.n_hidden", 0, "reports"),
        ("plot_samples", "plots.samples_grid", True, "reports"),
    ],
)
def test_a_bad_param_is_one_line_naming_the_key(project, stage, key, value, outputs):
    shutil.copytree(DATA_DIR, project.path / "data/raw")
    project.set_params(**{key: value})
    code, lines = run_stage(project, stage)
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: params.yaml: {key}: expected"), lines
    assert files_under(project.path / outputs) == []


def test_a_corrupt_raw_file_is_one_line_naming_it(project):
    raw = project.path / "data/raw"
    shutil.copytree(DATA_DIR, raw)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b truncated")
    code, lines = run_stage(project, "preprocess")
    assert code == 1
    assert len(lines) == 1, lines
    assert "data/raw/t10k-labels-idx1-ubyte.gz" in lines[0], lines
    assert files_under(project.path / "data/prepared") == []


def test_a_missing_data_directory_names_the_variable_and_the_package(project, tmp_path):
    code, lines = run_stage(project, "download", FASHION_MNIST_DIR=str(tmp_path / "nowhere"))
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"error: FASHION_MNIST_DIR={tmp_path / 'nowhere'}: ")
    assert files_under(project.path / "data/raw") == []
