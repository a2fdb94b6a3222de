"""Markdown tables, the report's comparisons over seeds and its discussion of overfitting, for whichever models
params.yaml defines.

The verdicts are read from the measured curves and the reference runs; the explanations
cover the regularisers the variants actually use, at the rates they use.
"""

import math
import re
import statistics

from stages import comparison
from stages.curves import overfitting_signs
from stages.distribution import name_cell, tie_margin


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
        horizon = 1 / (1 - momentum)  # an exponential average's weights fall by 1/e over this many steps
        span = (
            f"of the {steps:,} steps an epoch"
            if horizon <= steps
            else f"steps, about {horizon / steps:.1f} epochs of {steps:,} steps"
        )
        sentences.append(
            f"Validation, the choice of epoch and the kept weights use an exponential moving average of the "
            f"weights (momentum {momentum:g}: mostly the last {horizon:,.0f} {span}), which smooths out the "
            "noise of the latest updates."
        )
    if config.get("test_time_flip") and "tta_val_accuracy" in summary:
        sentences.append(
            "Each prediction averages the probabilities for the image and for its mirror image, so a garment "
            f"is judged from both sides: validation accuracy {summary['tta_val_accuracy']:.4f} with it, "
            f"{summary['best_val_accuracy']:.4f} from the image alone at the best epoch."
        )
    return sentences


def count(n, noun):
    """`1 epoch`, `3 epochs`."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


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


def _gap_words(gap):
    points = 100 * gap
    if round(points, 1) == 0:
        return "training and validation accuracy end level"
    return f"training accuracy ends {abs(points):.1f} points {'above' if points > 0 else 'below'} validation accuracy"


def _rise_words(s):
    epoch = f"epoch {s['min_val_loss_epoch']} of {s['epochs']}"
    if round(s["val_loss_rise"], 4) == 0:
        return f"validation loss ends at its lowest ({epoch})"
    return f"validation loss ends {s['val_loss_rise']:.4f} above its lowest ({epoch})"


def plain_verdict(name, s):
    overfits = round(s["val_loss_rise"], 4) > 0 and round(100 * s["accuracy_gap"], 1) > 0
    return f"Unregularised **{name}**: {_rise_words(s)}, and {_gap_words(s['accuracy_gap'])}: " + (
        "the classic signs of overfitting." if overfits else "little sign of overfitting within these epochs."
    )


def verdict(signs, configs):
    """Which regularised variant overfits least on this run, by both signs."""
    regularised = [name for name in signs if regularisers(configs[name])]
    lines = [plain_verdict(name, signs[name]) for name in signs if name not in regularised]
    for name in regularised:
        s = signs[name]
        lines.append(
            f"With {'; '.join(regularisers(configs[name]))} (**{name}**), {_gap_words(s['accuracy_gap'])}, "
            f"and {_rise_words(s)}."
        )
    if len(regularised) >= 2:
        # at the precision shown: two variants whose figures read the same share the smallest
        smaller_gap = _smallest(regularised, lambda n: round(100 * signs[n]["accuracy_gap"], 1))
        smaller_rise = _smallest(regularised, lambda n: round(signs[n]["val_loss_rise"], 4))
        if len(smaller_gap) == len(smaller_rise) == 1 and smaller_gap == smaller_rise:
            lines.append(f"Both signs agree: **{smaller_gap[0]}** overfits least on this run.")
        else:
            lines.append(
                f"The signs do not single out one variant ({' and '.join(smaller_gap)} the smallest accuracy gap, "
                f"{' and '.join(smaller_rise)} the smallest rise in validation loss), so no variant fights "
                "overfitting clearly better on this run."
            )
    return " ".join(lines)


def _smallest(names, key):
    low = min(map(key, names))
    return [name for name in names if key(name) == low]


def _percent(rate):
    return f"{100 * rate:g}%"


def why(configs):
    """The mechanisms, for the regularisers some variant uses, at the rates each uses."""
    rates = {}
    for name, config in configs.items():
        used = sorted({config[key] for key in ("dropout", "dense_dropout") if config.get(key)})
        if used:
            rates[name] = " and ".join(map(_percent, used))
    text = []
    if rates:
        if len(set(rates.values())) == 1:
            share = f"a random {next(iter(rates.values()))} of the activations"
        else:
            share = "a random share of the activations (" + ", ".join(f"{r} in {n}" for n, r in rates.items()) + ")"
        text.append(
            f"Dropout zeroes {share} at every training step, so no unit can rely on particular others and the "
            "network cannot memorise the training set as easily; it is a regulariser by design, and its training "
            "accuracy (measured with dropout on) can even sit below validation accuracy."
        )
    if any(c.get("batch_norm") for c in configs.values()):
        text.append(
            "Batch normalisation standardises each layer's inputs per mini-batch: it mainly makes "
            "optimisation faster and more stable, and the noise of the batch statistics is only a mild "
            "regulariser, so a network with batch-norm fits the training set quickly and can overfit as "
            "fast as the plain one."
        )
    augments = [c.get("augment") or {} for c in configs.values()]
    kinds = [
        kind
        for kind, key in (("small shifts", "translate"), ("mirroring", "flip"))
        if any(augment.get(key) for augment in augments)
    ]
    if kinds:
        text.append(
            "Augmentation shows the network a slightly different image each epoch, so it must learn what "
            f"is invariant to {' and '.join(kinds)} rather than the exact training pixels."
        )
    return " ".join(text)


def overfitting_section(lenets, summary):
    """Over seeds when the reference records hold the signs, and the committed run's curves either way."""
    signs = {name: overfitting_signs(outputs["history"]) for name, outputs in lenets.items()}
    configs = {name: outputs["training"]["config"] for name, outputs in lenets.items()}
    held = [name for name in lenets if name in summary["models"]]
    lacking = [name for name in held if not summary["models"][name].get("overfitting")]
    parts = ["### Overfitting"]
    with_signs = [name for name in held if name not in lacking]
    if with_signs:
        parts += seed_overfitting(summary, with_signs)
        parts += [lacking_signs_note(lacking)] if lacking else []
        parts += ["The committed run's curves (one seed):", signs_table(signs)]
    else:
        # the one run's discussion is all there is; say why, when the reference could give more
        parts += [lacking_signs_note(lacking)] if lacking else []
        parts += ["Read from the committed run's curves:", signs_table(signs), verdict(signs, configs)]
    explanation = why(configs)
    if explanation:
        parts.append("Why: " + explanation)
    return "\n\n".join(parts)


# What a comparison over seeds reads: (summary key, column label, lower is better, scale, decimals)
TEST_METRICS = (
    ("test_accuracy", "test accuracy", False, 1, 4),
    ("test_loss", "test loss", True, 1, 4),
)
GAP_SIGNS = (
    ("overfitting.accuracy_gap", "train - val accuracy, points", True, 100, 1),
    ("overfitting.val_loss_rise", "val loss above its lowest", True, 1, 4),
)


def comparison_table(summary, pairs, metrics, configs=None):
    """One row per (model, against) pair: for each metric the difference of the seed means, its Welch
    interval at the summary's confidence and the first model's verdict; and the verdicts, {pair: [verdict]}."""
    confidence, held = summary["confidence"], summary["models"]
    header = ["comparison", "seeds"]
    for _, label, *_ in metrics:
        header += [f"{label}: difference", f"{confidence:.0%} interval", "verdict"]
    rows, verdicts = [], {}
    for a, b in pairs:
        row = [
            f"{name_cell(a, held[a], configs)} against {name_cell(b, held[b], configs)}",
            f"{held[a]['n']} and {held[b]['n']}",
        ]
        for key, _, lower_is_better, scale, digits in metrics:
            result = comparison.compare(held[a], held[b], key, confidence, lower_is_better)
            low, high = (scale * end for end in result["interval"])
            row += [
                f"{scale * result['difference']:+.{digits}f}",
                f"{low:+.{digits}f} to {high:+.{digits}f}",
                result["verdict"],
            ]
            verdicts.setdefault((a, b), []).append(result)
        rows.append(row)
    return table(header, rows), verdicts


def _phrase(result, digits):
    if result["verdict"] == "tie":
        return f"a tie ({result['difference']:+.{digits}f}, inside the noise)"
    return f"{result['verdict']} by {abs(result['difference']):.{digits}f}"


def comparisons_section(summary, names, configs=None):
    """The assignment's comparisons over the reference seeds, for the models that both have reference runs."""
    pairs = [(a, b) for a, b in comparison.pairs(names) if a in summary["models"] and b in summary["models"]]
    if not pairs:
        return ""
    rendered, verdicts = comparison_table(summary, pairs, TEST_METRICS, configs)
    confidence = f"{summary['confidence']:.0%}"
    lines = [
        f"- `{a}` against `{b}`: test accuracy {_phrase(accuracy, 4)}; test loss {_phrase(loss, 4)}."
        for (a, b), (accuracy, loss) in verdicts.items()
    ]
    return "\n\n".join(
        [
            "### Which model is better, over seeds",
            "Each row compares two models over their reference runs: the first model's seed mean minus the "
            f"second's, and the {confidence} interval of that difference by Welch's method (each model keeps its "
            "own spread; Welch-Satterthwaite degrees of freedom). The verdict is the first model's: better or "
            f"worse when the interval lies wholly on one side of 0, a tie when it holds 0 (the seeds cannot tell "
            f"the two apart at {confidence}). A lower test loss is better.",
            rendered,
            "\n".join(lines),
        ]
    )


def lacking_signs_note(lacking):
    return (
        f"The reference records of {', '.join(lacking)} were made before the records kept the overfitting "
        "signs, so for them this section reads one run only. To see them over seeds, re-run the reference study with "
        "the current code (`make reference`, docs/reproducibility.md): each record then keeps its run's final "
        "gap, the rise of its validation loss and that minimum's epoch, and this section gives their mean ± sd "
        "and which variant reduces the gap."
    )


def seed_overfitting(summary, held):
    """The overfitting signs of the `held` models over the reference seeds, and which variant reduces the gap
    against the plain LeNet-5."""
    rows = []
    for name in held:
        stats = summary["models"][name]
        gap, rise, epoch = (
            stats["overfitting"][key] for key in ("accuracy_gap", "val_loss_rise", "min_val_loss_epoch")
        )
        rows.append(
            [
                f"`{name}`",
                stats["n"],
                f"{100 * gap['mean']:+.1f} ± {100 * gap['std']:.1f}",
                f"{rise['mean']:.4f} ± {rise['std']:.4f}",
                f"{epoch['mean']:.1f} ± {epoch['std']:.1f} of {stats['params']['epochs']}",
            ]
        )
    parts = [
        "Over the reference seeds (reference/summary.json), at the end of training:",
        table(
            (
                "model",
                "seeds",
                "train - val accuracy, points, mean ± sd",
                "val loss above its lowest, mean ± sd",
                "epoch of the lowest val loss, mean ± sd",
            ),
            rows,
        ),
    ]
    pairs = [(a, b) for a, b in comparison.pairs(held) if b == comparison.BASE]
    if pairs:
        rendered, verdicts = comparison_table(summary, pairs, GAP_SIGNS)
        words = {"better": "reduces it", "worse": "widens it", "tie": "ties with it (the interval holds 0)"}
        said = "; ".join(f"**{a}** {words[results[0]['verdict']]}" for (a, _), results in verdicts.items())
        parts += [
            f"Against {comparison.BASE}, smaller is better for both signs (a difference of seed means, "
            "its Welch interval and the verdict, as above):",
            rendered,
            f"Against {comparison.BASE}'s gap between training and validation accuracy: {said}.",
        ]
    return parts


def _more(old, new):
    return isinstance(old, int | float) and isinstance(new, int | float) and new > old


def _augment_why(old, new):
    old, new = old or {}, new or {}
    reasons = []
    if new.get("flip") and not old.get("flip"):
        reasons.append("mirrored garments are still the same class: flips double the variety of the training images")
    if (new.get("translate") or 0) > (old.get("translate") or 0):
        reasons.append("a garment shifted by a few pixels is still the same garment")
    return "; ".join(reasons) or None


def _schedule_why(old, new):
    if new.get("kind") == "cosine" and new.get("warmup_epochs"):
        return "a short warm-up avoids early instability at a high rate; cosine decay to 0 settles into a minimum"
    if new.get("kind") == "cosine":
        return "cosine decay to 0 settles into a minimum"
    if new.get("kind") == "plateau":
        return "the rate drops when validation stops improving"
    return None


# Why a knob can help, for the variants that change it from the first (the assignment's LeNet-5): each
# takes the two values and says nothing when the change goes the other way from the reason.
WHY = {
    "kernel_size": lambda old, new: (
        "two stacked 3x3 convs see as far as one 5x5 with fewer weights and one more non-linearity"
        if max(new) <= 3 < max(old)
        else None
    ),
    "filters": lambda old, new: (
        "the parameters go to the convs, where they see the whole image, rather than to dense layers"
        if len(new) > len(old)
        else None
    ),
    "pooling": lambda old, new: (
        "pooling after pairs of convs halves the resolution where the wide layers would cost most"
        if len(new) > len(old) and "none" in new
        else None
    ),
    "padding": lambda old, new: (
        "`same` padding keeps the borders, where garments often end, in play"
        if new.count("same") / len(new) > old.count("same") / len(old)
        else None
    ),
    "head": lambda old, new: "the head decides how the last feature map reaches the classifier",
    "dense_units": lambda old, new: (
        "a small head leaves the parameter budget to the convs" if sum(new) < sum(old) else None
    ),
    "batch_norm": lambda old, new: (
        "batch normalisation keeps each layer's inputs standardised, so a higher learning rate trains stably"
        if new
        else None
    ),
    "augment": _augment_why,
    "optimizer": lambda old, new: (
        "AdamW decouples weight decay from the adaptive step sizes" if new == "adamw" else None
    ),
    "weight_decay": lambda old, new: "weight decay keeps the weights small, a regulariser" if _more(old, new) else None,
    "schedule": _schedule_why,
    "batch_size": lambda old, new: (
        "larger batches make each epoch faster on these CPUs"
        if _more(old, new)
        else "smaller batches take more and noisier steps an epoch"
    ),
    "learning_rate": lambda old, new: (
        "a higher peak rate trains in fewer epochs, where batch-norm and a warm-up keep it stable"
        if _more(old, new)
        else "a lower rate takes smaller, steadier steps"
    ),
    "ema_momentum": lambda old, new: (
        "an average of the recent weights generalises better than the last noisy update" if new else None
    ),
    "test_time_flip": lambda old, new: (
        "garments are the same class mirrored, so averaging both views cancels some errors" if new else None
    ),
}


def changes_from(reference, config):
    """Markdown bullets: each knob that differs from `reference`, its two values, and why it can help."""
    lines = []
    for key, value in config.items():
        old = reference.get(key)
        if value != old:
            reason = WHY[key](old, value) if key in WHY and old is not None else None
            lines.append(f"- `{key}`: {_short(old)} -> {_short(value)}" + (f": {reason}" if reason else ""))
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
                        f"{float(row[best]):.4f}",
                        *([f"{float(row[tta]):.4f}" if _is_number(row[tta]) else "-"] if tta else []),
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
