"""The bare Keras script a student would write, one function per model.

No DVC, no seeds or determinism, default compile options: the baseline the pipeline
is compared with. Reads `<project>/params.yaml` and `<project>/data/prepared/*.npz`, so
it trains on exactly the data, epochs and batch size the pipeline uses, and prints
its results as one JSON line.

    python benchmarks/bare_keras.py lenet-base --project /path/to/project

Keras is imported where it is used, so that benchmarks/run.py reads MODELS without
loading TensorFlow into the process that times the others.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import yaml


def mlp():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(784,)),
            layers.Dense(128, activation="relu"),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def lenet_base():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(6, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(120, 5, activation="relu"),
            layers.Flatten(),
            layers.Dense(84, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def lenet_dropout():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(6, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.5),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.5),
            layers.Conv2D(120, 5, activation="relu"),
            layers.Dropout(0.5),
            layers.Flatten(),
            layers.Dense(84, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def lenet_batchnorm():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(6, 5, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(120, 5),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Flatten(),
            layers.Dense(84, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def lenet_tuned():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.RandomFlip("horizontal"),  # Keras flips only while training
            layers.Conv2D(16, 3, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.1),
            layers.Conv2D(32, 3, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Conv2D(32, 3, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.1),
            layers.Conv2D(48, 3, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Conv2D(64, 3, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.1),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


def optimizer(settings, steps_per_epoch):
    """params.yaml's optimizer (adam or adamw) and its cosine schedule: warm up linearly, then decay to 0."""
    import keras

    warmup_steps = settings["schedule"]["warmup_epochs"] * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else settings["learning_rate"],
        settings["epochs"] * steps_per_epoch - warmup_steps,
        warmup_target=settings["learning_rate"] if warmup_steps else None,
        warmup_steps=warmup_steps,
    )
    if settings["optimizer"] == "adamw":
        return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=settings["weight_decay"])
    return keras.optimizers.Adam(learning_rate=schedule)


# model name -> (builder, where its settings live in params.yaml)
MODELS = {
    "mlp": (mlp, ("mlp",)),
    "lenet-base": (lenet_base, ("lenet", "base")),
    "lenet-dropout": (lenet_dropout, ("lenet", "dropout")),
    "lenet-batchnorm": (lenet_batchnorm, ("lenet", "batchnorm")),
    "lenet-tuned": (lenet_tuned, ("lenet", "tuned")),
}


def load(project, split, image):
    with np.load(project / "data" / "prepared" / f"{split}.npz") as data:
        x, y = data["x"], data["y"]
    return (x.reshape(-1, 28, 28, 1) if image else x), y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("--project", type=Path, default=Path("."))
    args = parser.parse_args()
    import keras

    build, keys = MODELS[args.model]
    settings = yaml.safe_load((args.project / "params.yaml").read_text())
    for key in keys:
        settings = settings[key]
    image = args.model != "mlp"
    x, y = load(args.project, "train", image)
    x_val, y_val = load(args.project, "val", image)
    x_test, y_test = load(args.project, "test", image)

    model = build()
    model.compile(
        optimizer=optimizer(settings, math.ceil(len(x) / settings["batch_size"])),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(
        x, y, validation_data=(x_val, y_val), epochs=settings["epochs"], batch_size=settings["batch_size"], verbose=0
    )
    fit_seconds = time.perf_counter() - start
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)

    print(
        json.dumps(
            {
                "model": args.model,
                "params": model.count_params(),
                "n_train": len(x),
                "epochs": settings["epochs"],
                "batch_size": settings["batch_size"],
                "fit_seconds": fit_seconds,
                "samples_per_second": settings["epochs"] * len(x) / fit_seconds,
                "val_accuracy": history.history["val_accuracy"][-1],
                "test_accuracy": float(test_accuracy),
                "keras": keras.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
