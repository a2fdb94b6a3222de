"""evaluate stage: one trained model (`mlp` or `lenet-<variant>`, on the command line) on the test set.

Writes reports/metrics/<model>.json (the few numbers DVC compares),
reports/predictions/<model>.csv (actual,predicted records for DVC's confusion
template), reports/per_class/<model>.csv (precision, recall and F1 per class),
the training curves, the confusion matrix and a grid of the first test images
with their predictions under reports/figures/<model>/, and a record for the
report under reports/evaluation/.
"""

import argparse
import csv
import io
import re
import zipfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from stages import inference, params, quiet_tf
from stages.common import (
    CLASS_NAMES,
    EVALUATION_DIR,
    FIGURES_DIR,
    METRICS_DIR,
    PER_CLASS_DIR,
    PREDICTIONS_DIR,
    StageError,
    load_split,
    model_outputs,
    read_json,
    run,
    write_json,
    write_text,
)
from stages.figures import image_grid, save_figure

MODEL_NAME = re.compile(r"^(mlp|lenet-[a-z][a-z0-9_]*)$")
DIGITS = 4  # metrics are rounded so that `dvc metrics show` stays readable


def check_model_file(path):
    """Catch a missing or damaged model before TensorFlow's import, and its start-up chatter."""
    if not Path(path).is_file():
        raise StageError(f"{path}: no such model file; run 'dvc repro' for its training stage")
    if not zipfile.is_zipfile(path):
        raise StageError(
            f"{path}: not a Keras model archive (a .keras file is a zip); run 'dvc repro' for its training stage"
        )


def load_model(path):
    quiet_tf.import_tensorflow()  # before Keras imports it, so that its start-up notices are dropped
    import keras

    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises many types for a damaged archive
        raise StageError(
            f"{path}: not a loadable Keras model ({type(error).__name__}: {error})".splitlines()[0]
        ) from None


def evaluate(model, x_test, y_test, batch_size, test_time_flip=False):
    """Test loss and accuracy, and the predicted class of every test image.

    With `test_time_flip` (the model's training config) each prediction averages
    the image's and its mirror image's probabilities (stages/inference.py), and
    the loss is that of the averaged probabilities. Otherwise the model is
    recompiled with plain cross-entropy: a model trained with label smoothing
    would otherwise report a smoothed test loss, not comparable with the others.
    Two passes on purpose: model.evaluate computes the cross-entropy from the
    softmax layer's logits, which a loss recomputed from predicted
    probabilities (clipped at 1e-7) does not reproduce.
    """
    import keras

    x_test = x_test.reshape(-1, *model.input_shape[1:])
    if test_time_flip:
        probabilities = inference.probabilities(model, x_test, batch_size, test_time_flip)
        return inference.scores(probabilities, y_test), probabilities.argmax(axis=1)
    model.compile(loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    with quiet_tf.quiet_fit_and_predict():
        scores = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0, return_dict=True)
        predicted = model.predict(x_test, batch_size=batch_size, verbose=0).argmax(axis=1)
    return scores, predicted


def metrics_record(scores, record):
    """The numbers people compare between runs; per-class scores live in their own plot file,
    the best epoch and its validation scores in the training stage's DVCLive summary."""
    return {
        "test": {"loss": round(float(scores["loss"]), DIGITS), "accuracy": round(float(scores["accuracy"]), DIGITS)},
        "params": record["params"],
    }


def per_class_csv(labels, predicted):
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(len(CLASS_NAMES)), zero_division=0
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["class", "precision", "recall", "f1", "support"])
    writer.writerows(
        (name, round(float(p), DIGITS), round(float(r), DIGITS), round(float(f), DIGITS), int(n))
        for name, p, r, f, n in zip(CLASS_NAMES, precision, recall, f1, support, strict=False)
    )
    return out.getvalue()


def predictions_csv(labels, predicted):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["actual", "predicted"])
    writer.writerows((CLASS_NAMES[a], CLASS_NAMES[p]) for a, p in zip(labels, predicted, strict=False))
    return out.getvalue()


def curves_figure(curves, title):
    """Train vs validation accuracy and loss, per epoch, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (metric, path) in zip(axes, curves.items(), strict=False):
        history = pd.DataFrame(read_json(path))
        ax.plot(history["epoch"], history["train"], marker="o", label=f"train {metric}")
        ax.plot(history["epoch"], history["validation"], marker="o", label=f"validation {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{title}: {metric}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_figure(labels, predicted, title):
    matrix = confusion_matrix(labels, predicted, labels=range(len(CLASS_NAMES)))
    fig, ax = plt.subplots(figsize=(9, 7.5))
    sns.heatmap(
        matrix, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax, xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}: confusion matrix on the test set")
    fig.tight_layout()
    return fig


def predictions_figure(x_test, labels, predicted, grid, title):
    count = grid * grid
    titles = [
        f"GT:{CLASS_NAMES[a]}\nP:{CLASS_NAMES[p]}" for a, p in zip(labels[:count], predicted[:count], strict=False)
    ]
    colors = ["black" if a == p else "red" for a, p in zip(labels[:count], predicted[:count], strict=False)]
    return image_grid(x_test[:count], titles, f"{title}: the first {count} test images (red: wrong)", grid, colors)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="mlp or lenet-<variant>")
    name = parser.parse_args().model
    if not MODEL_NAME.match(name):
        raise StageError(f"{name}: not a model name (expected mlp or lenet-<variant>)")
    _, evaluate_params, grid = params.read("cpu_isa", "evaluate", "plots.predictions_grid")
    batch_size = evaluate_params.batch_size
    paths = model_outputs(name)
    check_model_file(paths["model"])
    record = read_json(paths["record"] / "training.json")
    x_test, y_test, labels = load_split("test")
    model = load_model(paths["model"])

    scores, predicted = evaluate(model, x_test, y_test, batch_size, record["config"].get("test_time_flip", False))
    metrics = metrics_record(scores, record)
    figures = FIGURES_DIR / name
    save_figure(curves_figure(paths["curves"], name), figures / "curves.png")
    save_figure(confusion_figure(labels, predicted, name), figures / "confusion_matrix.png")
    save_figure(predictions_figure(x_test, labels, predicted, grid, name), figures / "predictions.png")
    write_text(PREDICTIONS_DIR / f"{name}.csv", predictions_csv(labels, predicted))
    write_text(PER_CLASS_DIR / f"{name}.csv", per_class_csv(labels, predicted))
    write_json(
        EVALUATION_DIR / f"{name}.json",
        {"model": name, "test_samples": len(labels), "predictions_shown": min(grid * grid, len(labels))},
    )
    write_json(METRICS_DIR / f"{name}.json", metrics)
    print(f"{name}: test loss {metrics['test']['loss']}, test accuracy {metrics['test']['accuracy']}")


if __name__ == "__main__":
    run(main)
