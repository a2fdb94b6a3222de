"""The reference distribution beside the committed run and the hand-in: the one table the report and README show.

Reads reference/summary.json (written by reference/dvc.yaml's `summary` stage) and
reference/hand_in.json (the assignment's own figures). No TensorFlow and no pydantic,
so that docs/generate.py renders the same rows as the `report` stage.
"""

import math

from stages.common import REFERENCE_DIR, REFERENCE_SUMMARY_FILE, read_json
from stages.reference_format import as_compared

HAND_IN_FILE = REFERENCE_DIR / "hand_in.json"  # the assignment's own results: no stage writes them

HEADER = (
    "model",
    "seeds",
    "test accuracy, mean ± sd",
    "min to max",
    "interval",  # completed with the summary's confidence
    "test loss, mean ± sd",
    "committed run",
    "hand-in against the interval",
    "seed mean minus hand-in",
)


def load(summary_path=REFERENCE_SUMMARY_FILE, hand_in_path=HAND_IN_FILE):
    return read_json(summary_path), read_json(hand_in_path)["models"]


def against(value, interval, lower_is_better=False):
    """A value against an interval, in words that hold for a loss as for an accuracy: better, worse or within."""
    low, high = interval
    if low <= value <= high:
        return "within"
    return "better" if (value < low) == lower_is_better else "worse"


def hand_in_position(model_stats, hand_in):
    """The hand-in's test accuracy against the interval (better, worse or within), and the seed mean minus it."""
    acc = model_stats["test_accuracy"]
    return against(hand_in["accuracy"], acc["interval"]), acc["mean"] - hand_in["accuracy"]


def header(summary):
    return [f"{summary['confidence']:.0%} interval" if h == "interval" else h for h in HEADER]


def rows(summary, hand_in, committed, configs=None):
    """One row per model of `committed` ({model: its test metrics}, in order) that the reference holds.

    `configs` ({model: the params it was trained with}) marks a model whose params are not the
    reference's: an experiment, which the distribution does not describe."""
    table = []
    for model, test in committed.items():
        stats = summary["models"].get(model)
        if stats is None:
            continue
        acc, loss = stats["test_accuracy"], stats["test_loss"]
        position, gap = "beyond the assignment", ""
        if model in hand_in:
            h = hand_in[model]
            side, mean_gap = hand_in_position(stats, h)
            loss_side = against(h["loss"], loss["interval"], lower_is_better=True)
            position = f"accuracy {h['accuracy']:.3f} {side}, loss {h['loss']:.3f} {loss_side}"
            gap = f"{mean_gap:+.4f}"
        table.append(
            [
                name_cell(model, stats, configs),
                stats["n"],
                f"{acc['mean']:.4f} ± {acc['std']:.4f}",
                f"{acc['min']:.4f} to {acc['max']:.4f}",
                f"{acc['interval'][0]:.4f} to {acc['interval'][1]:.4f}",
                f"{loss['mean']:.4f} ± {loss['std']:.4f}",
                f"{test['accuracy']:.4f}",
                position,
                gap,
            ]
        )
    return table


def name_cell(model, stats, configs=None):
    """A model's name, marked when `configs` gives it other params than the reference runs': an experiment,
    which the reference does not describe."""
    changed = configs is not None and as_compared(configs.get(model)) != as_compared(stats["params"])
    return f"`{model}`" + (" (params changed since the reference)" if changed else "")


def source_note(summary):
    return f"From `reference/summary.json` (runs on {', '.join(summary['cpu_models'])})"


def tie_margin(model_stats):
    """How far apart two single test accuracies of one setting land, at the summary's confidence: t * s * sqrt(2).

    The summary's interval is mean +- t * s * sqrt(1 + 1/n); the difference of two independent runs
    has standard deviation s * sqrt(2), so the same t gives the margin without recomputing it."""
    low, high = model_stats["test_accuracy"]["interval"]
    return (high - low) / 2 * math.sqrt(2 / (1 + 1 / model_stats["n"]))
