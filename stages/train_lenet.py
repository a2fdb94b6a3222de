"""train_lenet stage: one LeNet-5 variant of Part 4, named on the command line.

A variant is its params subtree `lenet.<variant>`: `dropout` > 0 adds dropout
after each of the three conv blocks, `batch_norm` puts BatchNormalization
between each conv and its relu.
"""

import argparse

from stages import training
from stages.common import CLASS_NAMES, StageError, bool_param, float_param, load_params, load_split, run

IMAGE_SHAPE = (28, 28, 1)


def read_params(params, variant):
    known = params.get("lenet") if isinstance(params.get("lenet"), dict) else {}
    if variant not in known:
        raise StageError(f"params.yaml: lenet.{variant}: unknown variant "
                         f"(expected one of: {', '.join(known) or 'none defined'})")
    prefix = f"lenet.{variant}"
    return {
        "dropout": float_param(params, f"{prefix}.dropout", 0, 1, low_inclusive=True),
        "batch_norm": bool_param(params, f"{prefix}.batch_norm"),
        "fit": training.read_fit_params(params, prefix),
    }


def build_lenet(dropout=0.0, batch_norm=False, num_classes=len(CLASS_NAMES), name="lenet"):
    """LeNet-5 for 28x28x1 inputs, layer for layer as in the assignment."""
    import keras
    from keras import layers

    def conv_block(filters, padding):
        if not batch_norm:
            return [layers.Conv2D(filters, 5, padding=padding, activation="relu")]
        return [layers.Conv2D(filters, 5, padding=padding), layers.BatchNormalization(),
                layers.Activation("relu")]

    def regularise():
        return [layers.Dropout(dropout)] if dropout > 0 else []

    return keras.Sequential(
        [keras.Input(shape=IMAGE_SHAPE)]
        + conv_block(6, "same") + [layers.MaxPooling2D(2)] + regularise()      # 28x28x6 -> 14x14x6
        + conv_block(16, "valid") + [layers.MaxPooling2D(2)] + regularise()    # 10x10x16 -> 5x5x16
        + conv_block(120, "valid") + regularise()                              # 1x1x120
        + [layers.Flatten(), layers.Dense(84, activation="relu"),
           layers.Dense(num_classes, activation="softmax")],
        name=name,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", help="a key under `lenet` in params.yaml: base, dropout, batchnorm")
    variant = parser.parse_args().variant
    params = load_params()
    settings, runtime = read_params(params, variant), training.read_runtime_params(params)
    x_train, y_train, _ = load_split("train")
    x_val, y_val, _ = load_split("val")
    training.configure(runtime)
    name = f"lenet-{variant}"
    model = build_lenet(settings["dropout"], settings["batch_norm"], name=name)
    training.fit(model, name, (x_train.reshape(-1, *IMAGE_SHAPE), y_train),
                 (x_val.reshape(-1, *IMAGE_SHAPE), y_val), settings["fit"], runtime)


if __name__ == "__main__":
    run(main)
