"""report stage: reports/report.md, the assignment's answers from the pipeline's own outputs.

Every number, count and name in the report is read from a file an earlier
stage wrote; the set of models is `mlp` plus one `lenet-<variant>` for each
entry of `lenet` in params.yaml. No TensorFlow here.
"""

import csv
from pathlib import Path

from stages import distribution, models, params, pricing
from stages.common import (
    EVALUATION_DIR,
    FIGURES_DIR,
    METRICS_DIR,
    PER_CLASS_DIR,
    REPORT_FILE,
    SAMPLES_FILE,
    SCRATCH_FILE,
    SHAPES_FILE,
    StageError,
    model_outputs,
    read_json,
    run,
    write_text,
)
from stages.curves import read_history
from stages.report_text import (
    changes_from,
    comparisons_section,
    count,
    inference_knobs,
    overfitting_section,
    regularisers,
    seed_study_section,
    sweep_section,
    table,
)

SCORE_DIGITS = 4  # stages/evaluation.py rounds scores to this many decimals (not imported: it loads TensorFlow)
SWEEP_FILE = REPORT_FILE.parent / "sweep.csv"  # `dvc exp show --csv` of the tuning sweep, committed (docs/tuning.md)
# The same for a schedule study, a few seeds a setting (lenet-batchnorm's defaults)
SCHEDULE_STUDY_FILE = REPORT_FILE.parent / "schedule_study.csv"


def read_csv(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError as error:
        raise StageError(f"{path}: cannot read ({error.strerror}); run the stage that writes it") from None


def load_model_outputs(name):
    paths = model_outputs(name)
    return {
        "training": read_json(paths["record"] / "training.json"),
        "history": read_history(paths["curves"]),
        "metrics": read_json(METRICS_DIR / f"{name}.json"),
        "validation": read_json(paths["summary"]),
        "evaluation": read_json(EVALUATION_DIR / f"{name}.json"),
        "per_class": read_csv(PER_CLASS_DIR / f"{name}.csv"),
    }


def image(path, alt):
    return f"![{alt}]({Path(path).relative_to(REPORT_FILE.parent).as_posix()})"


def part1(scratch):
    check, problem = scratch["gradient_check"], scratch["problem"]
    rows = [
        (f"dL/d{name}", "x".join(map(str, _shape(g))) or "scalar", f"`{_fmt_nested(g)}`")
        for name, g in scratch["gradients"].items()
    ]
    size = f"{problem['n_inputs']}-{problem['n_hidden']}-{problem['n_outputs']}"
    return "\n\n".join(
        [
            "## Part 1: backpropagation from scratch",
            f"A {size} network with sigmoid units and loss L = 1/(2N) sum (y - t)^2, on {problem['n_samples']:,} "
            f"random points drawn after `np.random.seed({problem['seed']})`, differentiated by hand in NumPy "
            "(`stages/scratch_backprop.py`).",
            f"Loss: **{scratch['loss']!r}**",
            table(("gradient", "shape", "value"), rows),
            f"Each gradient has its parameter's shape. A central-difference check with epsilon "
            f"{check['epsilon']:g} agrees to a maximum relative error of **{check['max_relative_error']:.2e}**.",
        ]
    )


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


def part2(shapes, samples):
    raw, prepared, classes = shapes["raw"], shapes["prepared"], shapes["classes"]
    height, width = shapes["image_shape"]
    rows = [
        (name, f"{prepared[name]['x'][0]:,}", " ".join(map(str, prepared[name]["per_class"])))
        for name in ("train", "val", "test")
    ]
    return "\n\n".join(
        [
            "## Part 2: the data",
            f"Development images {tuple(raw['train_images'])}, labels {tuple(raw['train_labels'])}; "
            f"test images {tuple(raw['test_images'])}, labels {tuple(raw['test_labels'])}: {height}x{width} grayscale, "
            f"{len(classes)} classes ({', '.join(f'{i} {name}' for i, name in enumerate(classes))}).",
            table(("split", "images", f"per class (0-{len(classes) - 1})"), rows),
            image(FIGURES_DIR / "samples_dev.png", f"first {samples['count']} development images")
            + "\n"
            + image(FIGURES_DIR / "samples_test.png", f"first {samples['count']} test images"),
        ]
    )


def part3(shapes, mlp):
    training, metrics = mlp["training"], mlp["metrics"]
    prepared, classes = shapes["prepared"], shapes["classes"]
    height, width = shapes["image_shape"]
    layers = training["layers"]
    pixels = prepared["train"]["x"][1]
    untrained = training["untrained_output"]
    first_hidden = layers[0]["output_shape"][0]
    classes_balanced = all(len(set(prepared[name]["per_class"])) == 1 for name in ("train", "val"))
    return "\n\n".join(
        [
            "## Part 3: a feed-forward network",
            f"Each {height}x{width} image is flattened to a vector of {pixels} pixels scaled to [0, 1]: train x is "
            f"{tuple(prepared['train']['x'])}, validation {tuple(prepared['val']['x'])}, test "
            f"{tuple(prepared['test']['x'])}.",
            f"**Encoding.** Labels are one-hot vectors of length {len(classes)} "
            f"(train y {tuple(prepared['train']['y'])}). The classes are categories with no order, so a single "
            f"number would invent distances between them; one-hot targets match a {len(classes)}-way softmax output, "
            "which is a probability distribution over the classes.",
            "**Loss and metric.** Categorical cross-entropy is the negative log-likelihood of the true class "
            "under that softmax distribution: the matching loss for one-hot targets, with gradients that do "
            "not vanish when the network is confidently wrong (unlike squared error on a softmax). Accuracy is "
            "the metric: "
            + (
                "every class has the same number of images in the training and validation splits "
                "(table above), so accuracy is not skewed by class imbalance."
                if classes_balanced
                else "note the classes are not balanced in this run's split."
            ),
            f"**Parameters.** {metrics['params']['trainable']:,} trainable. "
            + " + ".join(f"{layer['params']:,}" for layer in layers)
            + f" by layer; the first Dense layer alone has {pixels} x {first_hidden} + {first_hidden} = "
            f"{layers[0]['params']:,}, so the count depends on the image's height and width: a 32x32 image "
            f"would give {(32 * 32 - pixels) * first_hidden:,} more.",
            f"**Untrained output** on the first training image: `{[round(p, 4) for p in untrained['probabilities']]}`, "
            f"summing to **{untrained['sum']:.2f}** (softmax).",
            model_results("mlp", mlp),
        ]
    )


def schedule_text(config):
    schedule = config["schedule"]
    if schedule["kind"] == "plateau":
        return (
            f"multiplied by {schedule['factor']:g} after {count(schedule['patience'], 'epoch')} without a better "
            f"{config['monitor']}"
        )
    if schedule["kind"] == "cosine" and schedule["warmup_epochs"] == 0:
        return "cosine decay to 0"
    if schedule["kind"] == "cosine":
        return f"{count(schedule['warmup_epochs'], 'warm-up epoch')}, then cosine decay to 0"
    return "constant"


def model_results(name, outputs):
    training, metrics, evaluation = outputs["training"], outputs["metrics"], outputs["evaluation"]
    config = training["config"]
    figures = FIGURES_DIR / name
    kept = (
        f"weights from epoch {training['weights_from_epoch']}, the best by {config['monitor']}"
        if config["restore_best_weights"]
        else f"weights from the last epoch ({training['weights_from_epoch']})"
    )
    extras = regularisers(config)
    knobs = inference_knobs(config, outputs["validation"], training["train_samples"])
    per_class = table(
        ("class", "precision", "recall", "F1"),
        [(row["class"], *(_score(row[key]) for key in ("precision", "recall", "f1"))) for row in outputs["per_class"]],
    )
    return "\n\n".join(
        [
            f"**{name}**: {config['epochs']} epochs, batch {config['batch_size']}, {config['optimizer']} "
            f"(learning rate {config['learning_rate']:g}, {schedule_text(config)}) on {training['train_samples']:,} "
            f"training images; {kept}."
            + (f" Regularisation: {'; '.join(extras)}." if extras else "")
            + "".join(f" {sentence}" for sentence in knobs)
            + f" Test loss **{metrics['test']['loss']:.4f}**, test accuracy **{metrics['test']['accuracy']:.4f}** "
            f"on {evaluation['test_samples']:,} test images.",
            image(figures / "curves.png", f"{name} training curves")
            + "\n"
            + image(figures / "confusion_matrix.png", f"{name} confusion matrix")
            + "\n"
            + image(
                figures / "predictions.png",
                f"{name} predictions on the first {evaluation['predictions_shown']} test images",
            ),
            f"Per class on the test set ({name}):",
            per_class,
        ]
    )


def _score(text):
    """A per-class score with the metrics' four decimals, so that a column lines up (0.8210, not 0.821)."""
    try:
        return f"{float(text):.{SCORE_DIGITS}f}"
    except ValueError:
        raise StageError(f"{PER_CLASS_DIR}: {text!r} is not a score; re-run the evaluate stages") from None


def params_cell(counts):
    return f"{counts['total']:,}" + (f" ({counts['non_trainable']:,} non-trainable)" if counts["non_trainable"] else "")


def layer_shapes(outputs):
    rows = [
        (layer["name"], layer["type"], "x".join(map(str, layer["output_shape"])), f"{layer['params']:,}")
        for layer in outputs["training"]["layers"]
    ]
    counts = outputs["metrics"]["params"]
    frozen = f"{counts['non_trainable']:,} of them non-trainable" if counts["non_trainable"] else "all trainable"
    return table(("layer", "type", "output shape", "params"), rows) + f"\n\n{counts['total']:,} parameters, {frozen}."


def comparison(all_outputs):
    rows = []
    for name, outputs in all_outputs.items():
        validation, metrics = outputs["validation"], outputs["metrics"]
        rows.append(
            (
                name,
                params_cell(metrics["params"]),
                validation["epochs"],
                validation["best_epoch"],
                f"{validation['best_val_accuracy']:.4f}",
                f"{metrics['test']['loss']:.4f}",
                f"{metrics['test']['accuracy']:.4f}",
            )
        )
    return table(("model", "params", "epochs", "best epoch", "best val accuracy", "test loss", "test accuracy"), rows)


def part4(all_outputs, sweep, study, summary):
    lenets = {name: outputs for name, outputs in all_outputs.items() if name.startswith("lenet-")}
    reference_name, reference = next(iter(lenets.items()))
    sections = [f"## Part 4: LeNet-5 and its variants ({', '.join(lenets)})"]
    for name, outputs in lenets.items():
        sections += [f"### {name}"]
        if name != reference_name:
            sections += [
                f"Changed from {reference_name}:",
                changes_from(reference["training"]["config"], outputs["training"]["config"]),
            ]
        sections += [layer_shapes(outputs), model_results(name, outputs)]
    configs = {name: outputs["training"]["config"] for name, outputs in all_outputs.items()}
    sections += [
        "### Comparison",
        comparison(all_outputs),
        "Weights come from the epoch with the best validation score (params `restore_best_weights`, "
        "`monitor`); the test set is used only for the final figures.",
        comparisons_section(summary, list(all_outputs), configs),
        overfitting_section(lenets, summary),
        sweep_section(sweep, summary["models"]),
        seed_study_section(study, summary["models"], SCHEDULE_STUDY_FILE.as_posix()),
    ]
    return "\n\n".join(section for section in sections if section)


def over_seeds(all_outputs, summary, hand_in):
    committed = {name: outputs["metrics"]["test"] for name, outputs in all_outputs.items()}
    configs = {name: outputs["training"]["config"] for name, outputs in all_outputs.items()}
    rows = distribution.rows(summary, hand_in, committed, configs)
    if not rows:
        return ""
    words = []
    for name in committed:
        stats, h = summary["models"].get(name), hand_in.get(name)
        if stats and h:
            side, gap = distribution.hand_in_position(stats, h)
            lies = "lies within the interval" if side == "within" else f"is {side} than the whole interval"
            words.append(
                f"`{name}`: the hand-in's test accuracy {h['accuracy']:.3f} {lies}, and the seed mean is "
                f"{abs(gap):.4f} {'higher' if gap >= 0 else 'lower'}."
            )
    return "\n\n".join(
        [
            "## Every model over seeds",
            "Each figure above is one draw: one seed, on one CPU model. The reference distribution "
            "(reference/dvc.yaml) retrains each model with other seeds on the same split, so that the initial "
            "weights, the shuffling and the dropout masks change. The interval is where one more run of an "
            f"unbroken model lands {summary['confidence']:.0%} of the time; `make verify` judges a reproduction by "
            "wider ones from the same runs, so that a healthy run of every model fails it at most once in a hundred.",
            table(distribution.header(summary), rows),
            f"{distribution.source_note(summary)}. A hand-in figure beyond the interval is better on the side "
            "of a higher accuracy or a lower loss, worse on the other.",
            "\n".join(f"- {line}" for line in words),
        ]
    )


def build_report(names):
    """The report's text, and {path: text} of the plot data it draws (the priced sweeps' frontiers)."""
    all_outputs = {name: load_model_outputs(name) for name in names}
    shapes = read_json(SHAPES_FILE)
    summary, hand_in = distribution.load()
    priced, plots = pricing.sections(summary["models"], table)
    text = (
        "\n\n".join(
            part
            for part in [
                "# Fashion-MNIST: the assignment, reproduced",
                "_Generated by the `report` stage (`stages/report.py`) from the pipeline's outputs; "
                "`dvc repro` rewrites it. Do not edit by hand._",
                part1(read_json(SCRATCH_FILE)),
                part2(shapes, read_json(SAMPLES_FILE)),
                part3(shapes, all_outputs["mlp"]),
                part4(all_outputs, read_csv(SWEEP_FILE), read_csv(SCHEDULE_STUDY_FILE), summary),
                priced,
                over_seeds(all_outputs, summary, hand_in),
            ]
            if part
        )
        + "\n"
    )
    return text, plots


def main():
    raw = params.load()
    params.check(raw, "lenet")
    text, plots = build_report(models.names(raw))
    pricing.write_plots(plots)
    write_text(REPORT_FILE, text)
    print(f"wrote {REPORT_FILE}")


if __name__ == "__main__":
    run(main)
