"""The environment is the lock: requirements.txt is up to date with requirements.in, .venv holds exactly it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.txt"
UV = shutil.which("uv", path=str(Path(sys.executable).parent))
needs_uv = pytest.mark.skipif(UV is None, reason="uv is not installed beside this Python (make setup installs it)")


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text):
    return {normalise(name): version for name, version in re.findall(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text)}


def test_every_locked_package_has_hashes():
    blocks = re.split(r"(?m)^(?=[A-Za-z0-9])", LOCK.read_text())
    for block in blocks:
        if "==" in block.splitlines()[0]:
            assert "--hash=sha256:" in block, block.splitlines()[0]


@needs_uv
def test_the_lock_is_up_to_date_with_requirements_in(tmp_path):
    """Re-locking keeps every existing pin, so an up-to-date lock comes back byte for byte."""
    fresh = tmp_path / "requirements.txt"
    shutil.copy(LOCK, fresh)
    subprocess.run(
        ["make", "-s", "lock", f"LOCK={fresh}", f"VENV={Path(sys.executable).parents[1]}"],
        cwd=ROOT,
        check=True,
        timeout=300,
        capture_output=True,
    )
    assert fresh.read_text() == LOCK.read_text(), "requirements.txt is stale: run `make lock` and commit it"


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
