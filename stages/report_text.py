"""Markdown tables, and the report's discussion of overfitting, for whichever LeNet variants params.yaml defines.

The verdict is read from the measured curves; the explanations cover the
regularisers the variants actually use, at the rates they use.
"""

import math
import re
import statistics

from stages.distribution import tie_margin


def regularisers(config):
    """What in a model's recorded config fights overfitting, in words."""
    found = []
    if config.get("dropout"):
        found.append(f"dropout {config['dropout']:g} after each conv block")
    if config.get("dense_dropout"):
        found.append(f"dropout {config['dense_dropout']:g} before each hidden dense layer")
    if config.get("batch_norm"):
        found.append("batch normalisation between each conv and its activation")
    augment = config.get("augment") or {}
    if augment.get("translate") or augment.get("flip"):
        shifts = [f"random shifts up to {augment['translate']:.0%} of the side"] if augment.get("translate") else []
        found.append("augmentation: " + " and ".join(shifts + (["horizontal flips"] if augment.get("flip") else [])))
    if config.get("weight_decay"):
        found.append(f"weight decay {config['weight_decay']:g}")
    if config.get("label_smoothing"):
        found.append(f"label smoothing {config['label_smoothing']:g}")
    return found


def inference_knobs(config, summary, train_samples):
    """Sentences for the knobs that change what a trained model predicts with: the weight average, flip TTA."""
    sentences = []
    momentum = config.get("ema_momentum")
    if momentum:
        steps = -(-train_samples // config["batch_size"])
        sentences.append(
            f"Validation, the choice of epoch and the kept weights use an exponential moving average of the "
            f"weights (momentum {momentum:g}: mostly the last {1 / (1 - momentum):,.0f} of the "
            f"{steps:,} steps an epoch), which smooths out the noise of the latest updates."
        )
    if config.get("test_time_flip") and "tta_val_accuracy" in summary:
        sentences.append(
            "Each prediction averages the probabilities for the image and for its mirror image, so a garment "
            f"is judged from both sides: validation accuracy {summary['tta_val_accuracy']:.4f} with it, "
            f"{summary['best_val_accuracy']:.4f} from the image alone at the best epoch."
        )
    return sentences


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


def signs_table(signs):
    rows = [
        (
            name,
            f"{s['min_val_loss_epoch']} of {s['epochs']}",
            f"{s['min_val_loss']:.4f}",
            f"{s['final_val_loss']:.4f} ({s['val_loss_rise']:+.4f})",
            f"{100 * s['accuracy_gap']:+.1f} points",
            f"{s['loss_gap']:+.4f}",
        )
        for name, s in signs.items()
    ]
    return table(
        (
            "model",
            "lowest val loss at epoch",
            "lowest val loss",
            "final val loss (rise)",
            "final train - val accuracy",
            "final val - train loss",
        ),
        rows,
    )


def plain_verdict(name, s):
    overfits = s["val_loss_rise"] > 0 and s["accuracy_gap"] > 0
    return (
        f"Unregularised **{name}** reaches its lowest validation loss at epoch {s['min_val_loss_epoch']} of "
        f"{s['epochs']}; by the end its validation loss is {s['val_loss_rise']:+.4f} above that minimum and "
        f"training accuracy exceeds validation accuracy by {100 * s['accuracy_gap']:.1f} points: "
        + ("the classic signs of overfitting." if overfits else "little sign of overfitting within these epochs.")
    )


def verdict(signs, configs):
    """Which regularised variant overfits least, by both signs; None when no variant is regularised."""
    regularised = [name for name in signs if regularisers(configs[name])]
    lines = [plain_verdict(name, signs[name]) for name in signs if name not in regularised]
    for name in regularised:
        s = signs[name]
        lines.append(
            f"With {'; '.join(regularisers(configs[name]))} (**{name}**), the end-of-training gap is "
            f"{100 * s['accuracy_gap']:+.1f} points and validation loss ends {s['val_loss_rise']:+.4f} "
            f"from its minimum (epoch {s['min_val_loss_epoch']})."
        )
    if len(regularised) >= 2:
        smaller_gap = min(regularised, key=lambda n: signs[n]["accuracy_gap"])
        smaller_rise = min(regularised, key=lambda n: signs[n]["val_loss_rise"])
        if smaller_gap == smaller_rise:
            lines.append(f"Both signs agree: **{smaller_gap}** overfits least on this run.")
        else:
            lines.append(
                f"The signs disagree ({smaller_gap} has the smallest accuracy gap, {smaller_rise} the "
                "smallest rise in validation loss), so no variant fights overfitting clearly better on "
                "this run."
            )
    return " ".join(lines)


def why(configs):
    """The mechanisms, for the regularisers some variant uses."""
    used = {key: [c[key] for c in configs.values() if c.get(key)] for key in ("dropout", "batch_norm")}
    text = []
    if used["dropout"]:
        rates = " and ".join(f"{rate:.0%}" for rate in sorted(set(used["dropout"])))
        text.append(
            f"Dropout zeroes a random {rates} of the activations at every training step, so no unit can "
            "rely on particular others and the network cannot memorise the training set as easily; it is a "
            "regulariser by design, and its training accuracy (measured with dropout on) can even sit "
            "below validation accuracy."
        )
    if used["batch_norm"]:
        text.append(
            "Batch normalisation standardises each layer's inputs per mini-batch: it mainly makes "
            "optimisation faster and more stable, and the noise of the batch statistics is only a mild "
            "regulariser, so a network with batch-norm fits the training set quickly and can overfit as "
            "fast as the plain one."
        )
    if any((c.get("augment") or {}).get("translate") or (c.get("augment") or {}).get("flip") for c in configs.values()):
        text.append(
            "Augmentation shows the network a slightly different image each epoch, so it must learn what "
            "is invariant to small shifts and mirroring rather than the exact training pixels."
        )
    return " ".join(text)


def overfitting_section(lenets):
    signs = {name: overfitting_signs(outputs["history"]) for name, outputs in lenets.items()}
    configs = {name: outputs["training"]["config"] for name, outputs in lenets.items()}
    parts = ["### Overfitting, read from the curves", signs_table(signs), verdict(signs, configs)]
    explanation = why(configs)
    if explanation:
        parts.append("Why: " + explanation)
    return "\n\n".join(parts)


# Why a knob helps, for the variants that change it from the first (the assignment's LeNet-5).
WHY = {
    "kernel_size": "two stacked 3x3 convs see as far as one 5x5 with fewer weights and one more non-linearity",
    "filters": "the parameters go to the convs, where they see the whole image, rather than to dense layers",
    "pooling": "halving the resolution after pairs of convs keeps the cost of the wide layers down",
    "padding": "`same` padding keeps the borders, where garments often end, in play",
    "head": "the head decides how the last feature map reaches the classifier",
    "dense_units": "a small head leaves the parameter budget to the convs",
    "batch_norm": "batch normalisation keeps each layer's inputs standardised, so a higher learning rate trains stably",
    "augment": "mirrored garments are still the same class: flips double the variety of the training images",
    "optimizer": "AdamW decouples weight decay from the adaptive step sizes",
    "weight_decay": "weight decay keeps the weights small, a regulariser",
    "schedule": "a short warm-up avoids early instability at a high rate; cosine decay to 0 settles into a minimum",
    "batch_size": "larger batches make each epoch faster on these CPUs",
    "learning_rate": "with batch-norm and a warm-up, a higher peak rate trains in fewer epochs",
    "ema_momentum": "an average of the recent weights generalises better than the last noisy update",
    "test_time_flip": "garments are the same class mirrored, so averaging both views cancels some errors",
}


def changes_from(reference, config):
    """Markdown bullets: each knob that differs from `reference`, its two values, and why it can help."""
    lines = []
    for key, value in config.items():
        if value != reference.get(key):
            why = f": {WHY[key]}" if key in WHY else ""
            lines.append(f"- `{key}`: {_short(reference.get(key))} -> {_short(value)}{why}")
    return "\n".join(lines)


def _short(value):
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_short, value)) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def sweep_section(rows, reference_models):
    """The sweep's runs (rows of `dvc exp show --csv`): name, the params varied, the best epoch's validation
    accuracy and, for runs with flip TTA, the saved model's with it: the figure each run is ranked by. A run
    whose figure is within the seed noise of the best (the reference distribution's, when it holds the
    variant) is a tie with it, not a loss."""
    rows, columns, best, params, variant = _finished_runs(rows)
    if not rows:
        return ""
    tta = next((key for key in columns if key.endswith("tta_val_accuracy")), None)

    def score(row):
        return float(row[tta]) if tta and _is_number(row[tta]) else float(row[best])

    rows = sorted(rows, key=lambda row: -score(row))
    reference = reference_models.get(f"lenet-{variant}")
    margin = tie_margin(reference) if reference else None

    def against_best(row):
        gap = score(rows[0]) - score(row)
        if row is rows[0]:
            return "best"
        return f"{'tie' if margin is not None and gap < margin else 'behind'} (-{gap:.4f})"

    header = [key.removeprefix(f"lenet.{variant}.") for key in params] + ["best val accuracy"]
    if tta:
        header.append("with flip TTA")
    noise = (
        f" A run less than {margin:.4f} behind the best is a tie with it: two runs of one setting differ by less "
        f"than that at the reference's confidence (lenet-{variant}'s seed spread on the test set, "
        "reference/summary.json)."
        if margin is not None
        else ""
    )
    return "\n\n".join(
        [
            f"### The sweep behind lenet-{variant}",
            "`reports/sweep.csv`: every run of the DVC experiment sweep (docs/tuning.md), with the params it "
            f"varied and lenet-{variant}'s validation accuracy at its best epoch"
            + (", and the saved model's with flip TTA where the run predicts so (the figure ranked)" if tta else "")
            + ". Chosen on validation accuracy alone, one seed a run; the test set was used once, on the winner."
            + noise,
            table(
                ["experiment", *header, "against the best"],
                [
                    [
                        row["Experiment"],
                        *(row[key] for key in params),
                        row[best],
                        *([row[tta] or "-"] if tta else []),
                        against_best(row),
                    ]
                    for row in rows
                ],
            ),
        ]
    )


def seed_study_section(rows, reference_models, source):
    """A study run on several seeds a setting (rows of `dvc exp show --csv` with a `seed` column): each setting's
    best-epoch validation accuracy as mean +- sd over its seeds, ranked by the mean. A mean within the seed
    noise of the best mean (from the reference distribution, when it holds the variant) is a tie with it."""
    rows, columns, best, params, variant = _finished_runs(rows)
    if not rows or "seed" not in columns:
        return ""
    settings = {}
    for row in rows:
        settings.setdefault(tuple(row[key] for key in params), []).append(row)
    ranked = sorted(settings.items(), key=lambda item: -statistics.fmean(float(r[best]) for r in item[1]))
    reference = reference_models.get(f"lenet-{variant}")
    one_run_margin = tie_margin(reference) if reference else None
    top = [float(r[best]) for r in ranked[0][1]]

    def against_best(runs):
        scores = [float(r[best]) for r in runs]
        if runs is ranked[0][1]:
            return "best"
        gap = statistics.fmean(top) - statistics.fmean(scores)
        if one_run_margin is None:
            return f"-{gap:.4f}"
        # the difference of two means of k and m runs has sd s * sqrt(1/k + 1/m), one run's s * sqrt(2)
        margin = one_run_margin * math.sqrt((1 / len(scores) + 1 / len(top)) / 2)
        return f"{'tie' if gap < margin else 'behind'} (-{gap:.4f}; noise {margin:.4f})"

    def spread(runs):
        scores = [float(r[best]) for r in runs]
        sd = f" ± {statistics.stdev(scores):.4f}" if len(scores) > 1 else ""
        return f"{statistics.fmean(scores):.4f}{sd}"

    def name(runs):  # `dvc exp run -S 'seed=a,b'` names each run <name>-1, <name>-2, ...
        return re.sub(r"-\d+$", "", runs[0]["Experiment"])

    body = [
        [name(runs), *key, ", ".join(sorted(r["seed"] for r in runs)), spread(runs), against_best(runs)]
        for key, runs in ranked
    ]
    header = ["setting", *(key.removeprefix(f"lenet.{variant}.") for key in params), "seeds"]
    return "\n\n".join(
        [
            f"### The schedule study behind lenet-{variant}",
            f"`{source}`: each setting trained on several seeds (a seed also draws the train/validation split), "
            f"and lenet-{variant}'s validation accuracy at its best epoch, mean ± sd over them. Chosen on validation "
            "alone; a setting whose mean is behind the best by less than the seed noise of such a mean (from "
            f"lenet-{variant}'s spread on the test set, reference/summary.json) ties with it.",
            table([*header, "best val accuracy, mean ± sd", "against the best"], body),
        ]
    )


def _finished_runs(rows):
    """Rows of `dvc exp show --csv` that are named, finished runs, with the columns, the best-epoch
    validation column, the `lenet.<variant>.*` params varied and the variant; no rows if none."""
    columns = list(rows[0]) if rows else []
    best = next((key for key in columns if key.endswith("best_val_accuracy")), None)
    # the baseline has no name in `dvc exp show`; a queued or failed run has no number
    rows = [row for row in rows if best and row["Experiment"] and _is_number(row[best])]
    params = [key for key in columns if key.startswith("lenet.")]
    variant = params[0].split(".")[1] if params else None
    return rows, columns, best, params, variant


def _is_number(text):
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
