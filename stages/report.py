"""report stage: reports/report.md, the assignment's answers from the pipeline's own outputs.

Every number in the report is read from a file an earlier stage wrote, so the
report changes when they do. No TensorFlow here.
"""

import csv
from pathlib import Path

from stages.common import CLASS_NAMES, MODELS, StageError, read_json, run, write_text

REPORT = Path("reports/report.md")
REPORTS = REPORT.parent
LENETS = MODELS[1:]


def read_history(path):
    try:
        with open(path, newline="") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    except (OSError, ValueError, KeyError) as error:
        raise StageError(f"{path}: cannot read the training history ({error})") from None


def load_model_outputs(name):
    training_dir = REPORTS / "training" / name
    return {
        "training": read_json(training_dir / "training.json"),
        "timing": read_json(training_dir / "timing.json"),
        "history": read_history(training_dir / "history.csv"),
        "metrics": read_json(REPORTS / "metrics" / f"{name}.json"),
    }


def overfitting_signs(history):
    """What the curves say: where validation loss bottomed out and how far the end is from it."""
    best = min(history, key=lambda row: row["val_loss"])
    last = history[-1]
    return {
        "min_val_loss_epoch": int(best["epoch"]),
        "min_val_loss": best["val_loss"],
        "final_val_loss": last["val_loss"],
        "val_loss_rise": last["val_loss"] - best["val_loss"],
        "accuracy_gap": last["accuracy"] - last["val_accuracy"],
        "loss_gap": last["val_loss"] - last["loss"],
        "epochs": int(last["epoch"]),
    }


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def image(path, alt):
    return f"![{alt}]({Path(path).relative_to(REPORTS).as_posix()})"


def part1(scratch):
    check = scratch["gradient_check"]
    rows = [(f"dL/d{name}", "x".join(map(str, _shape(g))) or "scalar", f"`{_fmt_nested(g)}`")
            for name, g in scratch["gradients"].items()]
    return "\n\n".join([
        "## Part 1: backpropagation from scratch",
        "A 2-3-1 network with sigmoid units and loss L = 1/(2N) sum (y - t)^2, on 1,000 random points "
        "drawn after `np.random.seed(0)`, differentiated by hand in NumPy (`stages/scratch_backprop.py`).",
        f"Loss: **{scratch['loss']!r}**",
        table(("gradient", "shape", "value"), rows),
        f"Each gradient has its parameter's shape. A central-difference check with epsilon "
        f"{check['epsilon']:g} agrees to a maximum relative error of **{check['max_relative_error']:.2e}**.",
    ])


def _shape(value):
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0]
    return shape


def _fmt_nested(value):
    if isinstance(value, list):
        return "[" + ", ".join(_fmt_nested(v) for v in value) + "]"
    return f"{value:.8g}"


def part2(shapes):
    raw, prepared = shapes["raw"], shapes["prepared"]
    rows = [(name, f"{prepared[name]['x'][0]:,}", " ".join(map(str, prepared[name]["per_class"])))
            for name in ("train", "val", "test")]
    return "\n\n".join([
        "## Part 2: the data",
        f"Development images {tuple(raw['train_images'])}, labels {tuple(raw['train_labels'])}; "
        f"test images {tuple(raw['test_images'])}, labels {tuple(raw['test_labels'])}: 28x28 grayscale, "
        f"10 classes ({', '.join(f'{i} {name}' for i, name in enumerate(CLASS_NAMES))}).",
        table(("split", "images", "per class (0-9)"), rows),
        image(REPORTS / "figures/samples_dev.png", "first 25 development images") + "\n"
        + image(REPORTS / "figures/samples_test.png", "first 25 test images"),
    ])


def part3(shapes, mlp):
    training, metrics = mlp["training"], mlp["metrics"]
    prepared = shapes["prepared"]
    layers = training["layers"]
    pixels = prepared["train"]["x"][1]
    untrained = training["untrained_output"]
    first_hidden = layers[0]["output_shape"][0]
    classes_balanced = len(set(prepared["train"]["per_class"])) == 1
    return "\n\n".join([
        "## Part 3: a feed-forward network",
        f"Each 28x28 image is flattened to a vector of {pixels} pixels scaled to [0, 1]: train x is "
        f"{tuple(prepared['train']['x'])}, validation {tuple(prepared['val']['x'])}, test "
        f"{tuple(prepared['test']['x'])}.",
        "**Encoding.** Labels are one-hot vectors of length 10 "
        f"(train y {tuple(prepared['train']['y'])}). The classes are categories with no order, so a single "
        "number would invent distances between them; one-hot targets match a 10-way softmax output, "
        "which is a probability distribution over the classes.",
        "**Loss and metric.** Categorical cross-entropy is the negative log-likelihood of the true class "
        "under that softmax distribution: the matching loss for one-hot targets, with gradients that do "
        "not vanish when the network is confidently wrong (unlike squared error on a softmax). Accuracy is "
        "the metric: " + ("every class has the same number of images in each split (table above), so "
                          "accuracy is not skewed by class imbalance."
                          if classes_balanced else "note the classes are not balanced in this run's split."),
        f"**Parameters.** {metrics['params']['trainable']:,} trainable. "
        + " + ".join(f"{layer['params']:,}" for layer in layers)
        + f" by layer; the first Dense layer alone has {pixels} x {first_hidden} + {first_hidden} = "
        f"{layers[0]['params']:,}, so the count depends on the image's height and width: a 32x32 image "
        f"would give {(32 * 32 - pixels) * first_hidden:,} more.",
        f"**Untrained output** on the first training image: `{[round(p, 4) for p in untrained['probabilities']]}`, "
        f"summing to **{untrained['sum']:.2f}** (softmax).",
        model_results("mlp", mlp),
    ])


def model_results(name, outputs):
    training, metrics = outputs["training"], outputs["metrics"]
    figures = REPORTS / "figures" / name
    fit = training["fit"]
    kept = (f"weights from epoch {training['weights_from_epoch']}, the best by {fit['monitor']}"
            if fit["restore_best_weights"] else f"weights from the last epoch ({training['weights_from_epoch']})")
    schedule = (f", multiplied by {fit['reduce_lr_factor']:g} after {fit['reduce_lr_patience']} epoch(s) without a "
                f"better {fit['monitor']}" if fit["reduce_lr_patience"] is not None else ", constant")
    return "\n\n".join([
        f"**{name}**: {fit['epochs']} epochs, batch {fit['batch_size']}, {fit['optimizer']} "
        f"(learning rate {fit['learning_rate']:g}{schedule}); {kept}. "
        f"Test loss **{metrics['test']['loss']:.4f}**, test accuracy **{metrics['test']['accuracy']:.4f}**.",
        image(figures / "curves.png", f"{name} training curves") + "\n"
        + image(figures / "confusion_matrix.png", f"{name} confusion matrix") + "\n"
        + image(figures / "predictions.png", f"{name} predictions on the first 25 test images"),
    ])


def layer_shapes(outputs):
    rows = [(layer["name"], layer["type"], "x".join(map(str, layer["output_shape"])), f"{layer['params']:,}")
            for layer in outputs["training"]["layers"]]
    return table(("layer", "type", "output shape", "params"), rows)


def comparison(all_outputs):
    rows = []
    for name, outputs in all_outputs.items():
        training, metrics, timing = outputs["training"], outputs["metrics"], outputs["timing"]
        rows.append((name, f"{metrics['params']['total']:,} ({metrics['params']['non_trainable']} non-trainable)",
                     training["fit"]["epochs"], training["best_epoch"], f"{training['best_val_accuracy']:.4f}",
                     f"{metrics['test']['loss']:.4f}", f"{metrics['test']['accuracy']:.4f}",
                     f"{timing['fit_seconds']:.0f} s"))
    return table(("model", "params", "epochs", "best epoch", "best val accuracy", "test loss",
                  "test accuracy", "training time"), rows)


def overfitting(all_outputs):
    signs = {name: overfitting_signs(outputs["history"]) for name, outputs in all_outputs.items()}
    rows = [(name, f"{s['min_val_loss_epoch']} of {s['epochs']}", f"{s['min_val_loss']:.4f}",
             f"{s['final_val_loss']:.4f} ({s['val_loss_rise']:+.4f})", f"{100 * s['accuracy_gap']:+.1f} points",
             f"{s['loss_gap']:+.4f}") for name, s in signs.items()]
    return signs, table(("model", "lowest val loss at epoch", "lowest val loss", "final val loss (rise)",
                         "final train - val accuracy", "final val - train loss"), rows)


def verdict(signs):
    """Dropout vs batch-norm, read from the curves' figures."""
    d, b = signs["lenet-dropout"], signs["lenet-batchnorm"]
    base = signs["lenet-base"]
    smaller_gap = "lenet-dropout" if d["accuracy_gap"] < b["accuracy_gap"] else "lenet-batchnorm"
    smaller_rise = "lenet-dropout" if d["val_loss_rise"] < b["val_loss_rise"] else "lenet-batchnorm"
    if smaller_gap == smaller_rise:
        outcome = f"Both signs agree: **{smaller_gap}** overfits less on this run."
    else:
        outcome = (f"The signs disagree ({smaller_gap} has the smaller accuracy gap, {smaller_rise} the smaller "
                   f"rise in validation loss), so neither fights overfitting clearly better on this run.")
    return " ".join([
        f"Plain LeNet-5 reaches its lowest validation loss at epoch {base['min_val_loss_epoch']} of "
        f"{base['epochs']}; by the end its validation loss is {base['val_loss_rise']:+.4f} above that minimum "
        f"and training accuracy exceeds validation accuracy by {100 * base['accuracy_gap']:.1f} points: "
        + ("the classic signs of overfitting." if base["val_loss_rise"] > 0 and base["accuracy_gap"] > 0
           else "little sign of overfitting within these epochs."),
        f"With dropout, the end-of-training gap is {100 * d['accuracy_gap']:+.1f} points and validation loss "
        f"ends {d['val_loss_rise']:+.4f} from its minimum (epoch {d['min_val_loss_epoch']});",
        f"with batch-norm the gap is {100 * b['accuracy_gap']:+.1f} points and validation loss ends "
        f"{b['val_loss_rise']:+.4f} from its minimum (epoch {b['min_val_loss_epoch']}).",
        outcome,
        "Why: dropout zeroes a random half of the activations at every training step, so no unit can rely "
        "on particular others and the network cannot memorise the training set as easily; it is a "
        "regulariser by design, and its training accuracy (measured with dropout on) can even sit below "
        "validation accuracy. Batch normalisation standardises each layer's inputs per mini-batch: it "
        "mainly makes optimisation faster and more stable, and the noise of the batch statistics is only a "
        "mild regulariser, so a network with batch-norm fits the training set quickly and can overfit as "
        "fast as the plain one.",
    ])


def part4(all_outputs):
    signs, signs_table = overfitting(all_outputs)
    sections = ["## Part 4: LeNet-5 and two regularised variants"]
    for name in LENETS:
        sections += [f"### {name}", layer_shapes(all_outputs[name]), model_results(name, all_outputs[name])]
    sections += [
        "### Comparison",
        comparison(all_outputs),
        "Weights come from the epoch with the best validation score (params `restore_best_weights`, "
        "`monitor`); the test set is used only for the final figures.",
        "### Overfitting, read from the curves",
        signs_table,
        verdict(signs),
    ]
    return "\n\n".join(sections)


def build_report():
    scratch = read_json(REPORTS / "scratch_backprop.json")
    shapes = read_json(REPORTS / "data_shapes.json")
    all_outputs = {name: load_model_outputs(name) for name in MODELS}
    return "\n\n".join([
        "# Fashion-MNIST: the assignment, reproduced",
        "_Generated by the `report` stage (`stages/report.py`) from the pipeline's outputs; "
        "`dvc repro` rewrites it. Do not edit by hand._",
        part1(scratch),
        part2(shapes),
        part3(shapes, all_outputs["mlp"]),
        part4(all_outputs),
    ]) + "\n"


def main():
    write_text(REPORT, build_report())
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    run(main)
