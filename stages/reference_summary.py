"""reference_summary stage: the reference distribution, from whatever runs have arrived in reference/runs/.

Per model: n, mean, standard deviation, min and max of the test accuracy and loss
over the seeds, and a prediction interval for one more run, mean +- t * s * sqrt(1 + 1/n),
with t the two-sided `reference.confidence` quantile of Student's t with n - 1 degrees
of freedom: a run of a model that is not broken lands outside it with probability
1 - confidence. `make verify` judges from the same n, mean and std at a level of its own.
Also recorded: the params the runs were made with (verify judges nothing for a model
whose params differ), the CPU models and the code version they came from, and, when
every run of a model recorded them, the mean and sd of its overfitting signs (the
final train - validation accuracy gap, the final validation loss's rise above its
minimum, and the epoch of that minimum).
"""

import json
import statistics
from pathlib import Path

from stages import models, params
from stages.common import REFERENCE_RUNS_DIR, REFERENCE_SUMMARY_FILE, StageError, run, write_json
from stages.curves import RECORDED_SIGNS
from stages.reference_format import Summary, prediction_interval

METRICS = ("accuracy", "loss")
DIGITS = 4


def describe(values, confidence):
    n = len(values)
    mean, std = statistics.fmean(values), statistics.stdev(values)
    low, high = prediction_interval(mean, std, n, confidence)
    return {
        "mean": round(mean, DIGITS + 1),
        "std": round(std, DIGITS + 1),
        "min": min(values),
        "max": max(values),
        "interval": [round(low, DIGITS + 1), round(high, DIGITS + 1)],
    }


def read_runs(runs_dir=REFERENCE_RUNS_DIR):
    """{model: [run record, ...]} for every seed-*.json that has arrived, ordered by seed."""
    runs = {}
    for path in sorted(Path(runs_dir).glob("*/seed-*.json")):
        try:
            record = json.loads(path.read_text())
            runs.setdefault(record["model"], []).append(record)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StageError(f"{path}: not a reference run record ({error}); delete it and re-run its stage") from None
    return {model: sorted(records, key=lambda r: r["seed"]) for model, records in sorted(runs.items())}


def overfitting(records):
    """{"overfitting": {sign: {mean, std}}} when every record holds the signs, else nothing."""
    if not all("overfitting" in r for r in records):
        return {}
    spread = {}
    for key in RECORDED_SIGNS:
        values = [r["overfitting"][key] for r in records]
        mean, std = statistics.fmean(values), statistics.stdev(values)
        spread[key] = {"mean": round(mean, DIGITS + 1), "std": round(std, DIGITS + 1)}
    return {"overfitting": spread}


def summarise(runs, raw_params, confidence):
    stats = {}
    for model, records in runs.items():
        if len(records) < 2:
            continue  # one run has no spread
        stats[model] = {
            "n": len(records),
            "seeds": [r["seed"] for r in records],
            **{f"test_{m}": describe([r["test"][m] for r in records], confidence) for m in METRICS},
            "params": params.check(raw_params, models.params_key(model)).record(),
            **overfitting(records),
        }
    runs_used = [r for model in stats for r in runs[model]]
    return {
        "rule": "within when inside mean +- t * std * sqrt(1 + 1/n), t the two-sided confidence quantile, n - 1 dof",
        "confidence": confidence,
        "split": {"seed": raw_params["seed"], "data": raw_params["data"]},
        "cpu_models": sorted({r["bits_decided_by"]["cpu_model"] for r in runs_used}),
        "code_versions": sorted({r["code_version"] for r in runs_used}),
        "models": stats,
    }


def main():
    raw = params.load()
    reference = params.check(raw, "reference")
    params.check(raw, "seed", "data")
    runs = read_runs()
    if not runs:
        raise StageError(f"{REFERENCE_RUNS_DIR}: no run has arrived yet; run 'dvc repro' in reference/ first")
    summary = Summary.model_validate(summarise(runs, raw, reference.confidence))
    summary = summary.model_dump(mode="json", exclude_unset=True)  # no overfitting key for runs without it
    write_json(REFERENCE_SUMMARY_FILE, summary)
    for model, stats in summary["models"].items():
        acc = stats["test_accuracy"]
        print(f"{model}: n {stats['n']}, test accuracy {acc['mean']:.4f} +- {acc['std']:.4f}, within {acc['interval']}")


if __name__ == "__main__":
    run(main)
