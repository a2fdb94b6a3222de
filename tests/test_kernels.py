"""The kernels' instruction-set pin (stages/kernels.py): set from params, in force, and effective.

A lower cap than the pin changes the bits, so each pin reaches its library; the pinned
bits equal the unpinned ones on a machine with exactly the baseline; and they equal
the committed fingerprint, made on an AVX2-only machine, on any machine that has AVX2.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from stages import kernels

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests/kernel_probe.py"
FINGERPRINT = ROOT / "tests/kernel_bits.json"  # the probe under the pin, on an AVX2-only EPYC
PIN = kernels.PINS["avx2"]
CPU_FLAGS = (
    set(
        next(
            (
                line.split(":", 1)[1].split()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("flags")
            ),
            [],
        )
    )
    if Path("/proc/cpuinfo").exists()
    else set()
)
x86_with_avx2 = pytest.mark.skipif(
    platform.machine() != "x86_64" or "avx2" not in CPU_FLAGS, reason="the pin is for x86-64 machines with AVX2"
)
# One level below each pin: what the library would run on an older CPU.
LOWER = {
    "ONEDNN_MAX_CPU_ISA": ("AVX", "onednn_training"),
    "OPENBLAS_CORETYPE": ("Sandybridge", "openblas_matmul"),
    "NPY_DISABLE_CPU_FEATURES": ("X86_V3 " + PIN["NPY_DISABLE_CPU_FEATURES"], "numpy_exp_float32"),
}


def probe(env, *args):
    base = {name: value for name, value in os.environ.items() if name not in kernels.VARIABLES}
    result = subprocess.run(
        [sys.executable, str(PROBE), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def pinned():
    return probe(PIN)


def test_every_pin_names_a_variable_and_native_none():
    assert set(kernels.PINS) == {"avx2", "native"}
    assert kernels.PINS["native"] == {}
    assert set(PIN) == set(kernels.VARIABLES) == set(LOWER)


@pytest.mark.parametrize("isa", ["avx2", "native"])
def test_importing_the_stages_sets_exactly_the_pin_params_names(tmp_path, isa):
    (tmp_path / "params.yaml").write_text(f"cpu_isa: {isa}\n")
    stale = dict.fromkeys(kernels.VARIABLES, "stale")  # a caller's values must not leak through
    code = "import json, os, stages; print(json.dumps({k: os.environ.get(k) for k in stages.kernels.VARIABLES}))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **stale, "PYTHONPATH": str(ROOT)},
        check=True,
    ).stdout
    assert json.loads(out) == {name: kernels.PINS[isa].get(name) for name in kernels.VARIABLES}


def test_a_bad_value_pins_nothing_and_the_params_check_names_it(tmp_path):
    (tmp_path / "params.yaml").write_text("cpu_isa: avx512\n")
    assert kernels.configured_isa(tmp_path / "params.yaml") is None
    from stages import params
    from stages.common import StageError

    with pytest.raises(StageError, match=r"^params.yaml: cpu_isa: expected one of avx2, native, got 'avx512'$"):
        params.check({"cpu_isa": "avx512"}, "cpu_isa")


@x86_with_avx2
def test_the_pin_is_in_force_in_each_library():
    code = (
        "import json, numpy, threadpoolctl; from numpy._core._multiarray_umath import __cpu_features__ as f; "
        "print(json.dumps([threadpoolctl.threadpool_info()[0]['architecture'], f['X86_V4']]))"
    )
    env = {**os.environ, **PIN, "ONEDNN_VERBOSE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == ["Haswell", False]


@x86_with_avx2
@pytest.mark.parametrize("variable", sorted(LOWER))
def test_a_lower_cap_than_the_pin_changes_the_bits(pinned, variable):
    value, probe_name = LOWER[variable]
    args = () if variable == "ONEDNN_MAX_CPU_ISA" else ("--numpy-only",)
    lowered = probe({**PIN, variable: value}, *args)
    assert lowered[probe_name] != pinned[probe_name], f"{variable}={value} did not change {probe_name}"


@x86_with_avx2
@pytest.mark.skipif(
    "avx512f" in CPU_FLAGS,
    reason="this machine has AVX-512: test_the_pinned_bits_are_the_"
    "committed_ones compares it with an AVX2-only machine instead",
)
def test_the_pin_changes_nothing_on_a_machine_with_exactly_the_baseline(pinned):
    assert probe({}) == pinned


@x86_with_avx2
def test_the_pinned_bits_are_the_committed_ones(pinned):
    """The committed fingerprint came from an AVX2-only EPYC; an AVX-512 machine must match it too."""
    assert pinned == json.loads(FINGERPRINT.read_text())["bits"]
