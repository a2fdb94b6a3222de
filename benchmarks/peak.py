"""This machine's limit: the float32 FLOP/s of one thread's large matrix product, under the `cpu_isa` pin.

    python -m benchmarks.peak [--size N] [--repeats N]

A matrix product of n x n matrices is 2 n^3 FLOPs (a multiply-add each), and at n of
a few thousand OpenBLAS runs it at close to the core's fused-multiply-add limit. It runs
in a child process with one OpenBLAS thread and the pin's variables set before NumPy
loads (stages/kernels.py), so the figure is what one core gives the pipeline's kernels.
The best of the repeats is kept: the others lost time to the rest of the machine.
"""

import argparse
import json
import os
import subprocess
import sys

from stages import kernels

_PROBE = """
import json, sys, time
import numpy as np
n, repeats = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
a @ b  # warm-up: page faults and OpenBLAS's buffers
times = []
for _ in range(repeats):
    start = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - start)
print(json.dumps({"n": n, "seconds": times}))
"""


def measure(size=3072, repeats=5, isa=None):
    """{"gflops": best GFLOP/s, "runs_gflops": each run's, "size", "cpu_isa", "threads": 1}."""
    isa = isa or kernels.configured_isa() or "avx2"
    env = {k: v for k, v in os.environ.items() if k not in kernels.VARIABLES}
    env.update(kernels.PINS[isa], OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(size), str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    seconds = json.loads(out.stdout)["seconds"]
    flops = 2 * size**3
    runs = [flops / s / 1e9 for s in seconds]
    return {"gflops": max(runs), "runs_gflops": runs, "size": size, "cpu_isa": isa, "threads": 1}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.size, args.repeats)
    print(json.dumps({**result, "cpu_model": kernels.cpu_model()}, indent=2))


if __name__ == "__main__":
    main()
