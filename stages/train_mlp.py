"""train_mlp stage: the feed-forward network of Part 3 on the flattened images."""

from stages import params, training
from stages.common import NUM_CLASSES, load_split, run

NAME = "mlp"


def build_mlp(input_size, hidden_units, activation, num_classes=NUM_CLASSES):
    """Dense 128 relu -> Dense 64 relu -> Dense 10 softmax with the defaults."""
    import keras

    return keras.Sequential(
        [keras.Input(shape=(input_size,))]
        + [keras.layers.Dense(units, activation=activation) for units in hidden_units]
        + [keras.layers.Dense(num_classes, activation="softmax")],
        name=NAME,
    )


def main():
    cpu_isa, seed, train, config = params.read("cpu_isa", "seed", "train", "mlp")
    x_train, y_train, _ = load_split("train")
    x_val, y_val, _ = load_split("val")
    training.configure(seed, train)
    model = build_mlp(x_train.shape[1], config.hidden_units, config.activation)
    training.fit(model, NAME, (x_train, y_train), (x_val, y_val), config, train, config.model_dump(), cpu_isa)


if __name__ == "__main__":
    run(main)
