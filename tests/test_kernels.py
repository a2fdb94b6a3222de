"""The kernels' instruction-set pin (stages/kernels.py): set from params, in force, and effective.

A lower cap than the pin changes the bits, so each pin reaches its library; the pinned
bits equal the unpinned ones on a machine with exactly the baseline. Under the pin NumPy
and OpenBLAS compute the same bits on every x86-64 machine with AVX2; oneDNN does not:
its bits are recorded per CPU model (tests/kernel_bits.json), and a machine whose model
is recorded must compute them again.
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
FINGERPRINTS = json.loads((ROOT / "tests/kernel_bits.json").read_text())  # the probe under the pin, per CPU model
PIN = kernels.PINS["avx2"]


CPU = kernels.cpuinfo()
CPU_FLAGS = set(CPU.get("flags", "").split())
CPU_MODEL = kernels.cpu_model(CPU)
PORTABLE_PROBES = ("numpy_exp_float32", "numpy_exp_float64", "openblas_matmul")
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
    reason="this machine has AVX-512: the pin changes what it runs",
)
def test_the_pin_changes_nothing_on_a_machine_with_exactly_the_baseline(pinned):
    assert probe({}) == pinned


@x86_with_avx2
def test_numpy_and_openblas_compute_the_committed_runs_bits_on_any_machine(pinned):
    committed = FINGERPRINTS["machines"][FINGERPRINTS["committed_run"]]["bits"]
    assert {probe: pinned[probe] for probe in PORTABLE_PROBES} == {probe: committed[probe] for probe in PORTABLE_PROBES}


def test_every_recorded_machine_agrees_on_the_portable_probes():
    bits = [machine["bits"] for machine in FINGERPRINTS["machines"].values()]
    assert FINGERPRINTS["committed_run"] in FINGERPRINTS["machines"]
    assert all(set(record) == set(PORTABLE_PROBES) | {"onednn_training"} for record in bits)
    assert len({tuple(record[probe] for probe in PORTABLE_PROBES) for record in bits}) == 1


@x86_with_avx2
def test_onednn_computes_the_bits_recorded_for_this_cpu_model(pinned):
    """oneDNN picks its convolution's blocking from the CPU it finds, within the pinned instruction set:
    the same CPU model must give the same bits; another model may give others (docs/reproducibility.md)."""
    if CPU_MODEL not in FINGERPRINTS["machines"]:
        pytest.skip(
            f"{CPU_MODEL} is not in tests/kernel_bits.json: record it with `python tests/kernel_probe.py --pinned`"
        )
    assert pinned["onednn_training"] == FINGERPRINTS["machines"][CPU_MODEL]["bits"]["onednn_training"]
