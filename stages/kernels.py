"""The instruction set the numeric libraries' kernels may use: `cpu_isa` in params.yaml.

oneDNN (TensorFlow's convolutions and matrix products), OpenBLAS (NumPy's
matrix products) and NumPy's own SIMD loops each choose their kernels when they
load, from the CPU they find; each kernel rounds differently, so the same code,
params and seed give other bytes on another CPU. `avx2` caps all three at
AVX2 + FMA (x86-64-v3), which every x86-64 machine of the last decade has: a
machine with AVX-512 then runs the same kernels as one without. `native` lets
each library use everything the CPU offers: faster on AVX-512 machines, other
bits there.

Measured (tests/test_kernels.py): each cap below changes bits when lowered one
level further, and with `avx2` an AVX2-only machine computes exactly what it
computes unpinned. What the pin does not fix: under it oneDNN still gives other
bits on another CPU model (an Intel Xeon and an AMD EPYC, both at AVX2, train
different LeNet weights), most likely because it sizes its blocking from the
CPU's caches. NumPy's and OpenBLAS's bits are the same on every AVX2 machine
measured. So a model's bits are reproducible on the CPU model that made them,
which `cpu_model()` names and the training records keep. TensorFlow's other kernels (Eigen) are compiled for one
instruction set, and Keras' ops run through TensorFlow's; XLA, which compiles
for the host CPU, is off because Keras does not JIT-compile under op
determinism. None of those needs a pin.

stages/__init__.py applies the pin, because NumPy and OpenBLAS read their
variables when NumPy is first imported: before any stage module loads.
This module imports nothing heavy for the same reason.
"""

import os
from pathlib import Path

PARAMS_FILE = Path("params.yaml")
KEY = "cpu_isa"

PINS = {
    "avx2": {
        # oneDNN dispatches up to AVX-512 and AMX; its probe here gave other weights below AVX2.
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        # OpenBLAS picks a core type's GEMM kernels (SkylakeX on AVX-512); Haswell's are AVX2 + FMA.
        "OPENBLAS_CORETYPE": "Haswell",
        # NumPy dispatches loops for x86-64-v4 (AVX-512) and later; float64 exp has AVX-512 code only.
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    },
    "native": {},
}
VARIABLES = sorted({name for pin in PINS.values() for name in pin})


def cpuinfo(path=Path("/proc/cpuinfo")):
    """The first processor's fields in /proc/cpuinfo (empty where there is none)."""
    text = path.read_text().split("\n\n")[0] if path.exists() else ""
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}


def cpu_model(fields=None):
    """The CPU's vendor, family and model number: what oneDNN's bits follow (module docstring)."""
    fields = cpuinfo() if fields is None else fields
    return f"{fields.get('vendor_id')} family {fields.get('cpu family')} model {fields.get('model')}"


def configured_isa(path=PARAMS_FILE):
    """`cpu_isa` from params.yaml, or None where there is none to read.

    A bad value is left for the stage's own params check (stages/params.py), which
    reports it in one line before any work.
    """
    from ruamel.yaml import YAML, YAMLError  # pure Python: loads no numeric library

    try:
        with open(path) as f:
            params = YAML(typ="safe", pure=True).load(f)
    except (OSError, YAMLError):
        return None
    isa = params.get(KEY) if isinstance(params, dict) else None
    return isa if isa in PINS else None


def pin_from_params():
    """Set exactly the pin params.yaml names: the param decides alone, whatever the caller had set."""
    isa = configured_isa()
    if isa is not None:
        for name in VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(PINS[isa])
