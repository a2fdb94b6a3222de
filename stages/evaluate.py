"""evaluate stage: one trained model on the test set.

Writes reports/metrics/<model>.json (DVC metrics), reports/predictions/<model>.csv
(actual,predicted records for DVC's confusion template) and, under
reports/figures/<model>/, the training curves, the confusion matrix and a grid
of the first test images with their predictions.
"""

import argparse
import csv
import io
import zipfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from sklearn.metrics import classification_report, confusion_matrix

from stages import training
from stages.common import (
    CLASS_NAMES,
    MODELS,
    StageError,
    int_param,
    load_params,
    load_split,
    read_json,
    run,
    write_json,
    write_text,
)
from stages.figures import image_grid, save_figure

METRICS_DIR = Path("reports/metrics")
PREDICTIONS_DIR = Path("reports/predictions")
FIGURES_DIR = Path("reports/figures")
DIGITS = 4  # metrics are rounded so that `dvc metrics show` stays readable


def read_params(params):
    return {
        "batch_size": int_param(params, "evaluate.batch_size", minimum=1),
        "grid": int_param(params, "plots.predictions_grid", minimum=1),
    }


def check_model_file(path):
    """Catch a missing or damaged model before TensorFlow's import, and its start-up chatter."""
    if not Path(path).is_file():
        raise StageError(f"{path}: no such model file; run 'dvc repro' for its training stage")
    if not zipfile.is_zipfile(path):
        raise StageError(f"{path}: not a Keras model archive (a .keras file is a zip); "
                         "run 'dvc repro' for its training stage")


def load_model(path):
    import keras

    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises many types for a damaged archive
        raise StageError(f"{path}: not a loadable Keras model ({type(error).__name__}: {error})"
                         .splitlines()[0]) from None


def evaluate(model, x_test, y_test, batch_size):
    """Test loss and accuracy, and the predicted class of every test image.

    Two passes on purpose: model.evaluate computes the cross-entropy from the
    softmax layer's logits, which a loss recomputed from predicted
    probabilities (clipped at 1e-7) does not reproduce.
    """
    x_test = x_test.reshape(-1, *model.input_shape[1:])
    scores = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0, return_dict=True)
    predicted = model.predict(x_test, batch_size=batch_size, verbose=0).argmax(axis=1)
    return scores, predicted


def metrics_record(scores, labels, predicted, record):
    report = classification_report(labels, predicted, labels=range(len(CLASS_NAMES)),
                                   target_names=CLASS_NAMES, output_dict=True, zero_division=0)
    return {
        "test": {"loss": round(float(scores["loss"]), DIGITS),
                 "accuracy": round(float(scores["accuracy"]), DIGITS)},
        "params": record["params"],
        "training": {
            "epochs": record["fit"]["epochs"],
            "best_epoch": record["best_epoch"],
            "weights_from_epoch": record["weights_from_epoch"],
            "best_val_accuracy": round(record["best_val_accuracy"], DIGITS),
            "best_val_loss": round(record["best_val_loss"], DIGITS),
        },
        "per_class": {name: {"precision": round(report[name]["precision"], DIGITS),
                             "recall": round(report[name]["recall"], DIGITS),
                             "f1": round(report[name]["f1-score"], DIGITS)}
                      for name in CLASS_NAMES},
    }


def predictions_csv(labels, predicted):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["actual", "predicted"])
    writer.writerows((CLASS_NAMES[a], CLASS_NAMES[p]) for a, p in zip(labels, predicted))
    return out.getvalue()


def curves_figure(history_path, title):
    """Train vs validation accuracy and loss, per epoch, side by side."""
    history = pd.read_csv(history_path)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        ax.plot(history["epoch"], history[metric], marker="o", label=f"train {metric}")
        ax.plot(history["epoch"], history[f"val_{metric}"], marker="o", label=f"validation {metric}")
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
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}: confusion matrix on the test set")
    fig.tight_layout()
    return fig


def predictions_figure(x_test, labels, predicted, grid, title):
    count = grid * grid
    titles = [f"GT:{CLASS_NAMES[a]}\nP:{CLASS_NAMES[p]}" for a, p in zip(labels[:count], predicted[:count])]
    colors = ["black" if a == p else "red" for a, p in zip(labels[:count], predicted[:count])]
    return image_grid(x_test[:count], titles, f"{title}: the first {count} test images (red: wrong)",
                      grid, colors)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=MODELS)
    name = parser.parse_args().model
    settings = read_params(load_params())
    model_path, report_dir = training.model_outputs(name)
    record = read_json(report_dir / "training.json")
    x_test, y_test, labels = load_split("test")
    check_model_file(model_path)
    model = load_model(model_path)

    scores, predicted = evaluate(model, x_test, y_test, settings["batch_size"])
    metrics = metrics_record(scores, labels, predicted, record)
    figures = FIGURES_DIR / name
    save_figure(curves_figure(report_dir / "history.csv", name), figures / "curves.png")
    save_figure(confusion_figure(labels, predicted, name), figures / "confusion_matrix.png")
    save_figure(predictions_figure(x_test, labels, predicted, settings["grid"], name), figures / "predictions.png")
    write_text(PREDICTIONS_DIR / f"{name}.csv", predictions_csv(labels, predicted))
    write_json(METRICS_DIR / f"{name}.json", metrics)
    print(f"{name}: test loss {metrics['test']['loss']}, test accuracy {metrics['test']['accuracy']}")


if __name__ == "__main__":
    run(main)
