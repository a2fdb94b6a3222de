"""train_mlp stage: the feed-forward network of Part 3 on the flattened images."""

from stages import training
from stages.common import CLASS_NAMES, choice_param, invalid_param, load_params, load_split, param, run

NAME = "mlp"
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu")


def read_params(params):
    hidden_units = param(params, "mlp.hidden_units")
    if not (isinstance(hidden_units, list) and hidden_units
            and all(isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in hidden_units)):
        raise invalid_param("mlp.hidden_units", "a non-empty list of integers >= 1", hidden_units)
    return {
        "hidden_units": hidden_units,
        "activation": choice_param(params, "mlp.activation", ACTIVATIONS),
        "fit": training.read_fit_params(params, "mlp"),
    }


def build_mlp(input_size, hidden_units, activation, num_classes=len(CLASS_NAMES)):
    """Dense 128 relu -> Dense 64 relu -> Dense 10 softmax with the defaults."""
    import keras

    return keras.Sequential(
        [keras.Input(shape=(input_size,))]
        + [keras.layers.Dense(units, activation=activation) for units in hidden_units]
        + [keras.layers.Dense(num_classes, activation="softmax")],
        name=NAME,
    )


def main():
    params = load_params()
    settings, runtime = read_params(params), training.read_runtime_params(params)
    x_train, y_train, _ = load_split("train")
    x_val, y_val, _ = load_split("val")
    training.configure(runtime)
    model = build_mlp(x_train.shape[1], settings["hidden_units"], settings["activation"])
    training.fit(model, NAME, (x_train, y_train), (x_val, y_val), settings["fit"], runtime)


if __name__ == "__main__":
    run(main)
