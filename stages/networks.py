"""The networks: Part 3's MLP and the LeNet family, as params.yaml describes them.

The assignment's LeNet-5 is filters [6, 16, 120], 5x5 kernels, `same` then
`valid` padding, max-pooling after the first two convs, Flatten, Dense 84.
Its dropout variant adds dropout after each conv block; its batch-norm variant
puts BatchNormalization between each conv and its relu. Cheaper members of the
family downsample with a stride, or replace a convolution by a depthwise-separable
one (`conv: separable`), as MobileNet does.

Keras is imported inside the functions, so that params are checked before it loads.
"""

from stages import models
from stages.common import NUM_CLASSES

IMAGE_SHAPE = (28, 28, 1)
INPUT_SIZE = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]  # the MLP's flattened image
POOLING = {"max": "MaxPooling2D", "average": "AveragePooling2D"}
CONVOLUTION = {"full": "Conv2D", "separable": "SeparableConv2D"}


def build(model, config, seed=0):
    """The untrained network of `model` (`mlp` or `lenet-<variant>`) with its params `config`."""
    if not models.is_lenet(model):
        return build_mlp(config.hidden_units, config.activation)
    return build_lenet(config, seed, name=model)


def as_input(model, x):
    """Prepared rows of 784 pixels, shaped as `model` takes them: rows for the MLP, 28x28x1 images for a LeNet."""
    return x.reshape(-1, *IMAGE_SHAPE) if models.is_lenet(model) else x


def build_mlp(hidden_units, activation, num_classes=NUM_CLASSES, input_size=INPUT_SIZE):
    """Dense 128 relu -> Dense 64 relu -> Dense 10 softmax with the defaults."""
    import keras

    return keras.Sequential(
        [keras.Input(shape=(input_size,))]
        + [keras.layers.Dense(units, activation=activation) for units in hidden_units]
        + [keras.layers.Dense(num_classes, activation="softmax")],
        name="mlp",
    )


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


def conv_layer(config, i, activation=None):
    from keras import layers

    kind = config.conv[i] if config.conv else "full"
    strides = config.strides[i] if config.strides else 1
    return getattr(layers, CONVOLUTION[kind])(
        config.filters[i], config.kernel_size[i], strides=strides, padding=config.padding[i], activation=activation
    )


def conv_block(config, i):
    """Conv -> [BatchNorm] -> activation -> [pool] -> [dropout]: the i-th conv layer of the network."""
    from keras import layers

    is_last = i == len(config.filters) - 1
    if config.batch_norm:
        block = [conv_layer(config, i), layers.BatchNormalization(), layers.Activation(config.activation)]
    else:
        block = [conv_layer(config, i, config.activation)]
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
