"""preprocess stage: data/raw/*.gz -> data/prepared/{train,val,test}.npz.

Each .npz holds `x` float32 (N, 784) in [0, 1], `y` float32 one-hot (N, 10)
and `label` uint8 (N,). The development set is split into train and
validation, stratified by class; the test set is kept whole.
"""

from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from stages import idx
from stages.common import (
    CLASS_NAMES,
    PREPARED_DIR,
    RAW_DIR,
    atomic_path,
    float_param,
    int_param,
    load_params,
    run,
    write_json,
)

SHAPES_FILE = Path("reports/data_shapes.json")


def read_params(params):
    return {
        "seed": int_param(params, "seed", minimum=0),
        "val_fraction": float_param(params, "data.val_fraction", 0, 1),
        "max_train_samples": int_param(params, "data.max_train_samples", minimum=len(CLASS_NAMES), allow_none=True),
    }


def flatten_and_scale(images):
    """(N, 28, 28) uint8 -> (N, 784) float32 in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)


def one_hot(labels, num_classes=len(CLASS_NAMES)):
    return np.eye(num_classes, dtype=np.float32)[labels]


def split(images, labels, val_fraction, seed, max_train_samples=None):
    """Stratified train/validation split; optionally a stratified subset of train."""
    x_train, x_val, y_train, y_val = train_test_split(
        images, labels, test_size=val_fraction, stratify=labels, random_state=seed
    )
    if max_train_samples is not None and max_train_samples < len(y_train):
        x_train, _, y_train, _ = train_test_split(
            x_train, y_train, train_size=max_train_samples, stratify=y_train, random_state=seed
        )
    return (x_train, y_train), (x_val, y_val)


def save_split(path, images, labels):
    with atomic_path(path) as tmp:
        np.savez(tmp, x=flatten_and_scale(images), y=one_hot(labels), label=labels.astype(np.uint8))


def main():
    settings = read_params(load_params())
    raw = {key: idx.load(RAW_DIR, spec) for key, spec in idx.FASHION_MNIST.items()}
    for key, array in raw.items():
        print(f"{key}: {array.shape}")

    train, val = split(raw["train_images"], raw["train_labels"], settings["val_fraction"], settings["seed"],
                       settings["max_train_samples"])
    prepared = {}
    for name, (images, labels) in [("train", train), ("val", val),
                                   ("test", (raw["test_images"], raw["test_labels"]))]:
        save_split(PREPARED_DIR / f"{name}.npz", images, labels)
        prepared[name] = {"x": [len(images), images[0].size], "y": [len(labels), len(CLASS_NAMES)],
                          "per_class": np.bincount(labels, minlength=len(CLASS_NAMES)).tolist()}
        print(f"{name}: x {tuple(prepared[name]['x'])} float32, y {tuple(prepared[name]['y'])} one-hot")
    write_json(SHAPES_FILE, {"raw": {key: list(array.shape) for key, array in raw.items()}, "prepared": prepared})


if __name__ == "__main__":
    run(main)
