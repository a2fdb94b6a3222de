"""preprocess stage: data/raw/*.gz -> data/prepared/{train,val,test}.npz.

Each .npz holds `x` float32 (N, 784) in [0, 1], `y` float32 one-hot (N, 10)
and `label` uint8 (N,). The development set is split into train and
validation, stratified by class. `data.max_*_samples` take a stratified subset
of a split, in its original order, for quick runs.
"""

import numpy as np
from sklearn.model_selection import train_test_split

from stages import idx, params
from stages.artifacts import save_npz
from stages.common import CLASS_NAMES, NUM_CLASSES, PREPARED_DIR, RAW_DIR, SHAPES_FILE, run, write_json


def flatten_and_scale(images):
    """(N, 28, 28) uint8 -> (N, 784) float32 in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)


def one_hot(labels, num_classes=NUM_CLASSES):
    return np.eye(num_classes, dtype=np.float32)[labels]


def split(images, labels, val_fraction, seed):
    """Stratified train/validation split of the development set."""
    x_train, x_val, y_train, y_val = train_test_split(
        images, labels, test_size=val_fraction, stratify=labels, random_state=seed
    )
    return (x_train, y_train), (x_val, y_val)


def subset(images, labels, max_samples, seed):
    """A stratified subset of at most `max_samples`, kept in its original order (None: all)."""
    if max_samples is None or max_samples >= len(labels):
        return images, labels
    keep, _ = train_test_split(np.arange(len(labels)), train_size=max_samples, stratify=labels, random_state=seed)
    keep.sort()
    return images[keep], labels[keep]


def save_split(path, images, labels):
    save_npz(path, x=flatten_and_scale(images), y=one_hot(labels), label=labels.astype(np.uint8))


def main():
    seed, data = params.read("seed", "data")
    raw = {key: idx.load(RAW_DIR, spec) for key, spec in idx.FASHION_MNIST.items()}
    for key, array in raw.items():
        print(f"{key}: {array.shape}")

    train, val = split(raw["train_images"], raw["train_labels"], data.val_fraction, seed)
    splits = {
        "train": subset(*train, data.max_train_samples, seed),
        "val": subset(*val, data.max_val_samples, seed),
        "test": subset(raw["test_images"], raw["test_labels"], data.max_test_samples, seed),
    }
    prepared = {}
    for name, (images, labels) in splits.items():
        save_split(PREPARED_DIR / f"{name}.npz", images, labels)
        prepared[name] = {
            "x": [len(images), images[0].size],
            "y": [len(labels), NUM_CLASSES],
            "per_class": np.bincount(labels, minlength=NUM_CLASSES).tolist(),
        }
        print(f"{name}: x {tuple(prepared[name]['x'])} float32, y {tuple(prepared[name]['y'])} one-hot")
    write_json(
        SHAPES_FILE,
        {
            "classes": list(CLASS_NAMES),
            "image_shape": list(raw["train_images"].shape[1:]),
            "raw": {key: list(array.shape) for key, array in raw.items()},
            "prepared": prepared,
        },
    )


if __name__ == "__main__":
    run(main)
