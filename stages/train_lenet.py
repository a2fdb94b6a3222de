"""train_lenet stage: one LeNet variant, named on the command line, as `lenet.<variant>` in params.yaml defines it.

The assignment's LeNet-5 is filters [6, 16, 120], 5x5 kernels, `same` then
`valid` padding, max-pooling after the first two convs, Flatten, Dense 84.
Its dropout variant adds dropout after each conv block; its batch-norm variant
puts BatchNormalization between each conv and its relu.
"""

import argparse

from stages import params, training
from stages.common import NUM_CLASSES, load_split, run

IMAGE_SHAPE = (28, 28, 1)
POOLING = {"max": "MaxPooling2D", "average": "AveragePooling2D"}


def augmentation(augment, seed):
    """Random shifts and flips: Keras applies them only when training, so evaluation sees the images as they are."""
    from keras import layers

    shift = (
        [layers.RandomTranslation(augment.translate, augment.translate, fill_mode="constant", seed=seed)]
        if augment.translate > 0
        else []
    )
    flip = [layers.RandomFlip("horizontal", seed=seed)] if augment.flip else []
    return shift + flip


def conv_block(config, i):
    """Conv -> [BatchNorm] -> activation -> [pool] -> [dropout]: the i-th conv layer of the network."""
    from keras import layers

    is_last = i == len(config.filters) - 1
    if config.batch_norm:
        block = [
            layers.Conv2D(config.filters[i], config.kernel_size[i], padding=config.padding[i]),
            layers.BatchNormalization(),
            layers.Activation(config.activation),
        ]
    else:
        block = [
            layers.Conv2D(
                config.filters[i], config.kernel_size[i], padding=config.padding[i], activation=config.activation
            )
        ]
    pooled = config.pooling[i] != "none"
    if pooled:
        block.append(getattr(layers, POOLING[config.pooling[i]])(2))
    if config.dropout > 0 and (pooled or is_last):
        block.append(layers.Dropout(config.dropout))
    return block


def dense_head(config):
    from keras import layers

    head = [layers.Flatten() if config.head == "flatten" else layers.GlobalAveragePooling2D()]
    for units in config.dense_units:
        head += [layers.Dropout(config.dense_dropout)] if config.dense_dropout > 0 else []
        head.append(layers.Dense(units, activation=config.activation))
    return head


def build_lenet(config, seed=0, num_classes=NUM_CLASSES, name="lenet"):
    """The network `config` (a schema.Lenet) describes, for 28x28x1 inputs.

    Layers are created in network order: each draws its initial weights' seed as it is created.
    """
    import keras
    from keras import layers

    stack = [keras.Input(shape=IMAGE_SHAPE), *augmentation(config.augment, seed)]
    for i in range(len(config.filters)):
        stack += conv_block(config, i)
    stack += dense_head(config)
    stack.append(layers.Dense(num_classes, activation="softmax"))
    return keras.Sequential(stack, name=name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", help="a key under `lenet` in params.yaml, such as base")
    variant = parser.parse_args().variant
    cpu_isa, seed, train, config = params.read("cpu_isa", "seed", "train", f"lenet.{variant}")
    x_train, y_train, _ = load_split("train")
    x_val, y_val, _ = load_split("val")
    training.configure(seed, train)
    name = f"lenet-{variant}"
    model = build_lenet(config, seed, name=name)
    training.fit(
        model,
        name,
        (x_train.reshape(-1, *IMAGE_SHAPE), y_train),
        (x_val.reshape(-1, *IMAGE_SHAPE), y_val),
        config,
        train,
        config.model_dump(),
        cpu_isa,
    )


if __name__ == "__main__":
    run(main)
