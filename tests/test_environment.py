"""The environment is the lock: requirements.txt is up to date with requirements.in, .venv holds exactly it.

requirements-gpu.txt, the GPU machines' lock, is generated beside it and differs only in TensorFlow's build.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.txt"
GPU_LOCK = ROOT / "requirements-gpu.txt"
VENV = Path(sys.executable).parents[1]
UV = shutil.which("uv", path=str(Path(sys.executable).parent))
needs_uv = pytest.mark.skipif(UV is None, reason="uv is not installed beside this Python (make setup installs it)")


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text):
    return {normalise(name): version for name, version in re.findall(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text)}


@pytest.mark.parametrize("lock", [LOCK, GPU_LOCK], ids=lambda path: path.name)
def test_every_locked_package_has_hashes(lock):
    blocks = re.split(r"(?m)^(?=[A-Za-z0-9])", lock.read_text())
    for block in blocks:
        if "==" in block.splitlines()[0]:
            assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_gpu_lock_swaps_tensorflows_build_and_moves_no_other_pin():
    cpu, gpu = pins(LOCK.read_text()), pins(GPU_LOCK.read_text())
    assert gpu["tensorflow"] == cpu["tensorflow-cpu"]
    assert "tensorflow-cpu" not in gpu
    shared = set(cpu) & set(gpu)
    assert {name: (cpu[name], gpu[name]) for name in shared if cpu[name] != gpu[name]} == {}
    assert set(cpu) - shared == {"tensorflow-cpu"}
    assert all(name.startswith("nvidia-") for name in set(gpu) - shared - {"tensorflow"})


@needs_uv
def test_the_lock_is_up_to_date_with_requirements_in(tmp_path):
    """Re-locking keeps every existing pin, so an up-to-date lock comes back byte for byte."""
    for name in ("Makefile", "requirements.in", ".python-version", LOCK.name, GPU_LOCK.name):
        shutil.copy(ROOT / name, tmp_path)  # a copy, so that the locks' "via" notes name the files as make lock does
    fresh, fresh_gpu = tmp_path / LOCK.name, tmp_path / GPU_LOCK.name
    subprocess.run(
        # -o: the venv these tests run in is not to be rebuilt for the copies' newer requirements files
        ["make", "-s", "-o", f"{VENV}/.installed", "lock", f"VENV={VENV}"],
        cwd=tmp_path,
        check=True,
        timeout=300,
        capture_output=True,
    )
    assert fresh.read_text() == LOCK.read_text(), "requirements.txt is stale: run `make lock` and commit it"
    assert fresh_gpu.read_text() == GPU_LOCK.read_text(), "requirements-gpu.txt is stale: run `make lock`"


@needs_uv
def test_the_installed_environment_is_exactly_the_lock():
    frozen = subprocess.run(
        [UV, "pip", "freeze", "--python", sys.executable], check=True, timeout=60, capture_output=True, text=True
    ).stdout
    installed, locked = pins(frozen), pins(LOCK.read_text())
    assert installed == locked, {
        "not locked": sorted(set(installed.items()) - set(locked.items())),
        "not installed": sorted(set(locked.items()) - set(installed.items())),
    }


def test_set_up_refuses_another_python_in_one_line(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(LOCK, tmp_path)
    (tmp_path / ".python-version").write_text("3.10\n")
    result = subprocess.run(
        ["make", "setup", f"PYTHON={sys.executable}"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    have = "{}.{}".format(*sys.version_info[:2])
    assert result.returncode != 0
    assert f"error: {sys.executable} is Python {have}; .python-version asks for 3.10" in result.stderr.splitlines()[0]
    assert not (tmp_path / ".venv").exists()


def test_the_running_python_is_the_declared_one():
    assert (ROOT / ".python-version").read_text().strip() == "{}.{}".format(*sys.version_info[:2])
