"""evaluate stage: one trained model (`mlp` or `lenet-<variant>`, on the command line) on the test set.

Writes reports/metrics/<model>.json (the few numbers DVC compares),
reports/predictions/<model>.csv (actual,predicted records for DVC's confusion
template), reports/per_class/<model>.csv (precision, recall and F1 per class),
the training curves, the confusion matrix and a grid of the first test images
with their predictions under reports/figures/<model>/, and a record for the
report under reports/evaluation/.
"""

import argparse

from stages import models, params
from stages.common import (
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
from stages.evaluation import evaluate, metrics_record, per_class_csv, predictions_csv
from stages.figures import confusion_figure, curves_figure, predictions_figure, save_figure
from stages.inference import check_model_file, load_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="mlp or lenet-<variant>")
    name = parser.parse_args().model
    if not models.NAME.match(name):
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
