"""Hashes of what each kernel-dispatching library computes, for tests/test_kernels.py.

Run as a script in a child process, with the environment under test, and without
importing `stages` (which would pin the kernels from params.yaml). Prints JSON.
`python tests/kernel_probe.py --pinned` sets the `avx2` pin itself: what
tests/kernel_bits.json records for a CPU model.
Each probe is the smallest computation that went through the library's
dispatched kernels in a measurement: a lower instruction set changed its bits.
"""

import hashlib
import json
import sys


def digest(array):
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def numpy_probes():
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 300)), rng.standard_normal((300, 300))
    x = rng.standard_normal(10_000)
    return {
        "openblas_matmul": digest(a @ b),
        "numpy_exp_float64": digest(np.exp(x)),  # SIMD code for AVX-512 only: Part 1's sigmoid
        "numpy_exp_float32": digest(np.exp(x.astype(np.float32))),  # SIMD code for AVX2 and AVX-512
    }


def onednn_probe():
    """A few training steps of a small conv net, as the LeNet stages run them."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(6, 5, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return {"onednn_training": digest(np.concatenate([w.ravel() for w in model.get_weights()]))}


def pin_avx2():
    """stages/kernels.py's `avx2` pin, loaded by path: the `stages` package would read params.yaml."""
    import importlib.util
    import os
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "stages/kernels.py"
    spec = importlib.util.spec_from_file_location("kernels", path)
    kernels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernels)
    os.environ.update(kernels.PINS["avx2"])


if __name__ == "__main__":
    if "--pinned" in sys.argv:
        pin_avx2()
    result = numpy_probes()
    if "--numpy-only" not in sys.argv:
        result.update(onednn_probe())
    print(json.dumps(result, sort_keys=True))
