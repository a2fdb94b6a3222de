"""The benchmark's arithmetic count, checked on layers small enough to count by hand."""

import pytest
from helpers import lenet_config

from stages import flops, quiet_tf
from stages.networks import build_lenet


@pytest.fixture(scope="module")
def keras():
    quiet_tf.import_tensorflow()
    import keras

    return keras


def test_a_dense_layer_is_inputs_times_units_multiply_adds(keras):
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    # 3 x 2 multiply-adds forward; backward only the weights' gradient (nothing below needs the input's)
    assert flops.per_image(model) == {"forward": 12, "train": 24}


def test_a_convolution_counts_every_output_position(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(4, 4, 1)),
            keras.layers.Conv2D(2, 3, padding="same"),  # 4 x 4 positions x 2 filters x 3 x 3 x 1 = 288
            keras.layers.Conv2D(5, 3, padding="valid"),  # 2 x 2 positions x 5 filters x 3 x 3 x 2 = 360
            keras.layers.MaxPooling2D(2),  # no multiply-adds
            keras.layers.Flatten(),
            keras.layers.Dense(3),  # 5 x 3 = 15
        ]
    )
    forward = 288 + 360 + 15
    # backward: weights' and inputs' gradients for every layer but the first, which has no input gradient
    assert flops.per_image(model) == {"forward": 2 * forward, "train": 2 * (3 * forward - 288)}


def test_a_separable_convolution_counts_its_depthwise_and_pointwise_parts(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(4, 4, 2)),
            keras.layers.Conv2D(2, 1),  # 4 x 4 x 2 x 2 = 64, first: no input gradient
            # stride 2: 2 x 2 positions; depthwise 2 channels x 3 x 3 = 18 each, pointwise 2 x 5 = 10 each
            keras.layers.SeparableConv2D(5, 3, strides=2, padding="same"),
        ]
    )
    forward = 64 + 2 * 2 * (2 * 9 + 2 * 5)
    assert flops.per_image(model) == {"forward": 2 * forward, "train": 2 * (3 * forward - 64)}


def test_a_training_counts_training_and_validation_passes(keras):
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    assert flops.training(model, epochs=2, train_images=10, val_images=5) == 2 * (10 * 24 + 5 * 12)


def test_lenet5_forward_pass_matches_its_published_layer_sizes(keras):
    # conv1 28x28x6 from 5x5x1, conv2 10x10x16 from 5x5x6, conv3 1x1x120 from 5x5x16, dense 120x84, 84x10
    macs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 25 * 6 + 120 * 25 * 16 + 120 * 84 + 84 * 10
    assert flops.per_image(build_lenet(lenet_config("base")))["forward"] == 2 * macs
