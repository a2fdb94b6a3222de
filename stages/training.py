"""What train_mlp and train_lenet share: their params, determinism, and fit().

TensorFlow is imported inside the functions that need it, so that params are
checked (and bad ones reported) before the three-second import.
"""

import io
import time
from pathlib import Path

from stages.common import (
    atomic_path,
    bool_param,
    choice_param,
    float_param,
    int_param,
    write_json,
    write_text,
)

MODELS_DIR = Path("models")
TRAINING_DIR = Path("reports/training")
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}
MONITORS = ("val_loss", "val_accuracy")
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")


def read_fit_params(params, prefix):
    """The fit settings under `prefix` (such as 'lenet.dropout'), checked."""
    return {
        "epochs": int_param(params, f"{prefix}.epochs", minimum=1),
        "batch_size": int_param(params, f"{prefix}.batch_size", minimum=1),
        "optimizer": choice_param(params, f"{prefix}.optimizer", tuple(OPTIMIZERS)),
        "learning_rate": float_param(params, f"{prefix}.learning_rate", 0, 1, high_inclusive=True),
        "restore_best_weights": bool_param(params, f"{prefix}.restore_best_weights"),
        "monitor": choice_param(params, f"{prefix}.monitor", MONITORS),
        "reduce_lr_factor": float_param(params, f"{prefix}.reduce_lr_factor", 0, 1),
        "reduce_lr_patience": int_param(params, f"{prefix}.reduce_lr_patience", minimum=1, allow_none=True),
    }


def read_runtime_params(params):
    """Settings that change speed, not results: shared by every training stage."""
    return {
        "seed": int_param(params, "seed", minimum=0),
        "steps_per_execution": int_param(params, "train.steps_per_execution", minimum=1),
        "validation_batch_size": int_param(params, "train.validation_batch_size", minimum=1),
        "inter_op_threads": int_param(params, "train.inter_op_threads", minimum=0),
    }


def model_outputs(name):
    """Where a model's training writes: the model file and its report directory."""
    return MODELS_DIR / f"{name}.keras", TRAINING_DIR / name


def configure(runtime):
    """Seeds, op determinism and threads: call before building a model."""
    import keras
    import tensorflow as tf

    # 0 keeps TensorFlow's default. It can only be set before the first op runs.
    if tf.config.threading.get_inter_op_parallelism_threads() != runtime["inter_op_threads"]:
        tf.config.threading.set_inter_op_parallelism_threads(runtime["inter_op_threads"])
    keras.backend.clear_session()  # also restarts layer auto-names, which the outputs record
    keras.utils.set_random_seed(runtime["seed"])
    tf.config.experimental.enable_op_determinism()


def parameter_counts(model):
    import keras

    trainable = sum(keras.ops.size(w) for w in model.trainable_weights)
    non_trainable = sum(keras.ops.size(w) for w in model.non_trainable_weights)
    return {"total": int(trainable + non_trainable), "trainable": int(trainable),
            "non_trainable": int(non_trainable)}


def layer_table(model):
    return [{"name": layer.name, "type": type(layer).__name__,
             "output_shape": list(layer.output.shape[1:]), "params": layer.count_params()}
            for layer in model.layers]


def summary_text(model):
    lines = io.StringIO()
    model.summary(print_fn=lambda line, **_: lines.write(line + "\n"), line_length=90)
    return lines.getvalue()


def epoch_logger(epochs):
    """One plain line per epoch: readable in `dvc repro` output and in CI logs."""
    import keras

    def log(epoch, logs):
        print(f"epoch {epoch + 1}/{epochs}: " + " ".join(f"{k} {logs[k]:.4f}" for k in HISTORY_COLUMNS[1:]),
              flush=True)

    return keras.callbacks.LambdaCallback(on_epoch_end=log)


def fit(model, name, train, val, fit_params, runtime):
    """Compile and train `model`; write the model, its history, summary and timing.

    With restore_best_weights the saved weights are those of the epoch with the
    best validation score: only validation data chooses, never the test set.
    """
    import keras

    x_train, y_train = train
    optimizer = getattr(keras.optimizers, OPTIMIZERS[fit_params["optimizer"]])(
        learning_rate=fit_params["learning_rate"])
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=runtime["steps_per_execution"])
    untrained_output = model.predict(x_train[:1], verbose=0)[0]

    epochs = fit_params["epochs"]
    # patience=epochs: never stops early, only tracks (and maybe restores) the best epoch.
    best = keras.callbacks.EarlyStopping(monitor=fit_params["monitor"], patience=epochs,
                                         restore_best_weights=fit_params["restore_best_weights"])
    callbacks = [epoch_logger(epochs), best]
    if fit_params["reduce_lr_patience"] is not None:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=fit_params["monitor"], factor=fit_params["reduce_lr_factor"],
            patience=fit_params["reduce_lr_patience"]))
    start = time.perf_counter()
    history = model.fit(x_train, y_train, validation_data=val, epochs=epochs,
                        batch_size=fit_params["batch_size"], validation_batch_size=runtime["validation_batch_size"],
                        callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - start

    history = history.history
    best_index = best.best_epoch
    saved_index = best_index if fit_params["restore_best_weights"] else epochs - 1
    model_path, report_dir = model_outputs(name)
    with atomic_path(model_path) as tmp:
        model.save(tmp)
    write_text(report_dir / "history.csv", history_csv(history))
    write_text(report_dir / "summary.txt", summary_text(model))
    write_json(report_dir / "training.json", {
        "model": name,
        "fit": fit_params,
        "params": parameter_counts(model),
        "layers": layer_table(model),
        "untrained_output": {"probabilities": [float(p) for p in untrained_output],
                             "sum": float(untrained_output.sum())},
        "weights_from_epoch": saved_index + 1,
        "best_epoch": best_index + 1,
        "best_val_loss": float(history["val_loss"][best_index]),
        "best_val_accuracy": float(history["val_accuracy"][best_index]),
    })
    write_json(report_dir / "timing.json", {
        "fit_seconds": round(seconds, 2),
        "samples_per_second": round(epochs * len(x_train) / seconds, 1),
    })
    print(f"{name}: weights from epoch {saved_index + 1} ({fit_params['monitor']} "
          f"{history[fit_params['monitor']][saved_index]:.4f}); fit took {seconds:.1f} s")


def history_csv(history):
    epochs = len(history["loss"])
    rows = [",".join(HISTORY_COLUMNS)]
    for i in range(epochs):
        rows.append(",".join([str(i + 1)] + [repr(float(history[k][i])) for k in HISTORY_COLUMNS[1:]]))
    return "\n".join(rows) + "\n"
