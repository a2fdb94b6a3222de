"""One model trained as a bare Keras script would train it: the baseline the pipeline's overhead is measured by.

    python -m benchmarks.bare_keras lenet-base --project /path/to/project    # prints one JSON line

The same network, optimizer and schedule as the pipeline's (stages/networks.py and stages/training.py,
from `<project>/params.yaml`) on the same prepared arrays, but nothing else of the pipeline's: no
DVC, no DVCLive or callbacks, no seeds, determinism, thread counts or kernel pin, Keras' default of
one batch per compiled call.
"""

import argparse
import json
import math
import time
from pathlib import Path

from benchmarks.measure import pin


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--project", type=Path, default=Path())
    args = parser.parse_args()
    pin("native")  # no pin: undo, before NumPy loads, what importing `stages` sets from params.yaml
    import numpy as np

    from stages import models, networks, params, quiet_tf, training

    config = params.check(params.load(args.project / "params.yaml"), models.params_key(args.model))
    splits = []
    for split in ("train", "val", "test"):
        with np.load(args.project / "data" / "prepared" / f"{split}.npz") as data:
            splits.append((networks.as_input(args.model, data["x"]), data["y"]))
    (x, y), val, (x_test, y_test) = splits
    quiet_tf.import_tensorflow()  # before Keras, which imports it with start-up notices
    import keras

    model = networks.build(args.model, config)
    training.compile_model(model, config, math.ceil(len(x) / config.batch_size), steps_per_execution=1)
    start = time.perf_counter()
    history = model.fit(x, y, validation_data=val, epochs=config.epochs, batch_size=config.batch_size, verbose=0)
    fit_seconds = time.perf_counter() - start
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    result = {"model": args.model, "params": model.count_params(), "n_train": len(x), "epochs": config.epochs}
    result |= {"batch_size": config.batch_size, "fit_seconds": fit_seconds, "keras": keras.__version__}
    result["samples_per_second"] = config.epochs * len(x) / fit_seconds
    result |= {"val_accuracy": history.history["val_accuracy"][-1], "test_accuracy": float(test_accuracy)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
