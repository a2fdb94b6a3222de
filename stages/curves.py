"""A training's per-epoch curves, read back from DVCLive's files, and the overfitting signs in them.

The report reads the committed run's curves; a reference run reads its own before its temporary
directory goes, so that the reference summary can give the same signs over seeds.
"""

from stages.common import StageError, read_json


def read_history(curves):
    """Rows of epoch, loss, accuracy, val_loss, val_accuracy from a model's two curve files."""
    columns = {metric: read_json(path) for metric, path in curves.items()}
    try:
        return [
            {
                "epoch": int(acc["epoch"]),
                "accuracy": float(acc["train"]),
                "val_accuracy": float(acc["validation"]),
                "loss": float(loss["train"]),
                "val_loss": float(loss["validation"]),
            }
            for acc, loss in zip(columns["accuracy"], columns["loss"], strict=False)
        ]
    except (KeyError, TypeError, ValueError) as error:
        # both curve files share a directory: name it, as either file may be the one that is wrong
        raise StageError(f"{curves['accuracy'].parent}: not a training curve ({error!r})") from None


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


# What a reference record keeps of the signs: the three the summary gives over seeds.
RECORDED_SIGNS = ("accuracy_gap", "val_loss_rise", "min_val_loss_epoch")


def recorded_signs(history, digits):
    signs = overfitting_signs(history)
    return {key: signs[key] if isinstance(signs[key], int) else round(signs[key], digits) for key in RECORDED_SIGNS}
