"""This machine's limit: the float32 FLOP/s of one thread's large matrix product, under a `cpu_isa` pin.

    python -m benchmarks.peak [--size N] [--repeats N] [--cpu-isa avx2|native]    # prints one JSON object

A product of n x n matrices is 2 n^3 FLOPs (a multiply-add each), and at n of a few thousand
OpenBLAS runs it close to the core's fused-multiply-add limit. One OpenBLAS thread, the pin set
before NumPy loads (stages/kernels.py): the figure is what one core gives the pipeline's kernels.
The best of the repeats is kept: the others lost time to the rest of the machine.
"""

import argparse
import json
import os
import time

from benchmarks.measure import pin
from stages import kernels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cpu-isa", choices=kernels.PINS, help="params.yaml's unless given")
    args = parser.parse_args()
    isa = args.cpu_isa or kernels.configured_isa() or "avx2"
    pin(isa)
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((args.size, args.size), dtype=np.float32) for _ in range(2))
    a @ b  # warm-up: page faults and OpenBLAS's buffers
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        a @ b
        runs.append(2 * args.size**3 / (time.perf_counter() - start) / 1e9)
    result = {"gflops": max(runs), "runs_gflops": runs, "size": args.size, "cpu_isa": isa, "threads": 1}
    print(json.dumps(result | {"cpu_model": kernels.cpu_model()}))


if __name__ == "__main__":
    main()
