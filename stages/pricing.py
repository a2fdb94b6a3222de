"""A sweep priced: each run's validation accuracy against what it cost, its frontier, and its ties.

`ci/sweep.py collect` writes a sweep's table, reports/sweeps/<sweep>.csv, one row a run: the params it
overrides, its validation accuracy (best epoch, and with flip TTA where the run predicts so), parameters,
training GFLOP and fit core-seconds. A run is on the frontier when no other run is both cheaper (fewer
core-seconds) and at least as accurate; it ties with the best when it is behind by less than the seed noise
of one run (the reference distribution's: stages/distribution.py's tie_margin).
"""

import csv
import io
import json
import math
import re
import statistics
from pathlib import Path

from stages.common import REPORTS_DIR, StageError, write_text
from stages.distribution import tie_margin

SWEEPS_DIR = REPORTS_DIR / "sweeps"  # one committed table a sweep (sweeps/<sweep>.yaml)
FRONTIER_DIR = REPORTS_DIR / "frontier"  # the report's plot data: a sweep's runs, marked, for `dvc plots`
NUMBERS = ("best_val_accuracy", "tta_val_accuracy", "best_epoch", "parameters", "training_gflop", "fit_core_seconds")
NOT_PARAMS = {"experiment", "model", *NUMBERS, "fit_seconds", "cpu_model", "accuracy", "frontier", "tie"}


def read(path):
    """The rows of a sweep table, numbers as numbers; a run without a cost (no timing line) has None there."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as error:
        raise StageError(f"{path}: cannot read ({error.strerror}); write it with python -m ci.sweep collect") from None
    for row in rows:
        for key in NUMBERS:
            row[key] = float(row[key]) if row.get(key) not in (None, "") else None
    return rows


def accuracy(row):
    """What a run is ranked by: the saved model's validation accuracy as evaluation predicts (flip TTA if so)."""
    return row["tta_val_accuracy"] if row["tta_val_accuracy"] is not None else row["best_val_accuracy"]


def mark(rows, margin):
    """Each row with `accuracy`, `frontier` (no cheaper run is as accurate) and `tie` (with the most accurate)."""
    best = max(accuracy(row) for row in rows)
    priced = [row for row in rows if row["fit_core_seconds"] is not None]
    marked = []
    for row in rows:
        cost, score = row["fit_core_seconds"], accuracy(row)
        dominated = cost is None or any(
            other["fit_core_seconds"] <= cost
            and accuracy(other) >= score
            and other is not row
            and (other["fit_core_seconds"] < cost or accuracy(other) > score)
            for other in priced
        )
        tie = margin is not None and best - score < margin
        marked.append({**row, "accuracy": score, "frontier": not dominated, "tie": tie})
    return marked


def plot_rows(marked):
    """For DVC's plots: one point a run, named, coloured by where it stands."""
    return [
        {
            "experiment": row["experiment"],
            "fit_core_seconds": row["fit_core_seconds"],
            "validation_accuracy": row["accuracy"],
            "training_gflop": row["training_gflop"],
            "parameters": int(row["parameters"]),
            "status": ("frontier, " if row["frontier"] else "") + ("ties with the best" if row["tie"] else "behind"),
        }
        for row in marked
        if row["fit_core_seconds"] is not None
    ]


def varied(rows):
    """The params columns, in the table's order."""
    return [key for key in rows[0] if key not in NOT_PARAMS] if rows else []


def sweep_name(path):
    return Path(path).stem


def changes(row, baseline, keys):
    """What a run changes from the sweep's first run, its baseline: `epochs 20; strides [2, 1, 1, 1, 1]`."""
    return "; ".join(f"{key} {row[key]}" for key in keys if not same(row[key], baseline[key])) or "the baseline"


def same(value, baseline):
    """Equal, or the same one value a layer over fewer layers (`[3, 3, 3, 3]` against `[3, 3, 3, 3, 3]`)."""
    if value == baseline:
        return True
    try:
        ours, theirs = json.loads(value), json.loads(baseline)
    except (TypeError, ValueError):
        return False
    return isinstance(ours, list) and isinstance(theirs, list) and len({*map(str, ours), *map(str, theirs)}) == 1


def section(path, marked, margin, table):
    """The report's table of a sweep, cheapest first, with a sentence on how to read it; `table` renders."""
    baseline, keys = marked[0], varied(marked)
    base_cost = baseline["fit_core_seconds"]
    body, best = [], max(r["accuracy"] for r in marked)
    for row in sorted(marked, key=lambda r: r["fit_core_seconds"] or float("inf")):
        cost = row["fit_core_seconds"]
        gap = best - row["accuracy"]
        body.append(
            [
                f"`{row['experiment']}`",
                changes(row, baseline, keys),
                f"{int(row['parameters']):,}",
                f"{row['training_gflop']:,.0f}",
                "-" if cost is None else f"{cost:,.0f}",
                "-" if cost is None or not base_cost else f"{cost / base_cost:.2f}",
                f"{row['accuracy']:.4f}",
                "best" if gap == 0 else f"{'tie' if row['tie'] else 'behind'} (-{gap:.4f})",
                "yes" if row["frontier"] else "",
            ]
        )
    cpus = sorted({row["cpu_model"] for row in marked if row.get("cpu_model")})
    noise = f"less than {margin:.4f} behind the best is a tie with it" if margin is not None else "no noise known"
    return "\n\n".join(
        [
            f"### What each network costs: the `{sweep_name(path)}` sweep",
            f"`{path.as_posix()}`: every run of the sweep (`sweeps/{sweep_name(path)}.yaml`, docs/tuning.md), "
            "one seed each, trained only: validation accuracy of the saved model (with flip TTA where it predicts "
            "so) against the work of its training (GFLOP) and its fit's core-seconds, cheapest first. A run is on "
            "the frontier when no cheaper run is as accurate; one "
            f"{noise} (one run's seed noise, from the reference distribution). Core-seconds are CPU time, "
            f"measured on {', '.join(cpus) or 'an unrecorded CPU'}; `dvc plots show {FRONTIER_DIR.as_posix()}` "
            "draws accuracy against them.",
            table(
                [
                    "run",
                    "changes from the first run",
                    "parameters",
                    "GFLOP",
                    "core-seconds",
                    "x the first run's",
                    "val accuracy",
                    "against the best",
                    "frontier",
                ],
                body,
            ),
        ]
    )


def sweep_files():
    return sorted(SWEEPS_DIR.glob("*.csv"))


def sections(reference_models, table):
    """The report's part on priced sweeps, and {plot path: CSV text} for the frontier plots."""
    texts, plots = [], {}
    for path in sweep_files():
        rows = read(path)
        if not rows:
            continue
        reference = reference_models.get(rows[0]["model"])
        margin = tie_margin(reference) if reference else None
        if "seed" in rows[0]:
            texts.append(seeds_section(path, rows, margin, table))
            continue
        marked = mark(rows, margin)
        texts.append(section(path, marked, margin, table))
        plots[FRONTIER_DIR / path.name] = csv_text(plot_rows(marked))
    return "\n\n".join(texts), plots


def csv_text(rows):
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_plots(plots):
    for path, text in plots.items():
        write_text(path, text)


def by_setting(rows):
    """{setting: its runs}: a sweep with seeds names each run `<setting>-seed<N>`."""
    settings = {}
    for row in rows:
        settings.setdefault(re.sub(r"-seed\d+$", "", row["experiment"]), []).append(row)
    return settings


def seeds_section(path, rows, one_run_margin, table):
    """Finalists on several seeds: each setting's validation accuracy as mean +- sd and its mean cost, best
    mean first; a mean behind the best by less than the noise of such a difference of means is a tie."""
    settings = by_setting(rows)
    scores = {name: [accuracy(r) for r in runs] for name, runs in settings.items()}
    ranked = sorted(settings, key=lambda name: -statistics.fmean(scores[name]))
    best = scores[ranked[0]]
    keys = [key for key in varied(rows) if key != "seed"]
    first = settings[next(iter(settings))][0]
    body = []
    for name in ranked:
        runs, values = settings[name], scores[name]
        costs = [r["fit_core_seconds"] for r in runs if r["fit_core_seconds"] is not None]
        gap = statistics.fmean(best) - statistics.fmean(values)
        if name == ranked[0]:
            against = "best"
        elif one_run_margin is None:
            against = f"-{gap:.4f}"
        else:
            margin = one_run_margin * math.sqrt((1 / len(values) + 1 / len(best)) / 2)
            against = f"{'tie' if gap < margin else 'behind'} (-{gap:.4f}; noise {margin:.4f})"
        sd = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
        body.append(
            [
                f"`{name}`",
                changes(runs[0], first, keys),
                ", ".join(str(int(float(r["seed"]))) for r in runs),
                f"{statistics.fmean(values):.4f}{sd}",
                f"{statistics.fmean(costs):,.0f}" if costs else "-",
                against,
            ]
        )
    return "\n\n".join(
        [
            f"### Finalists on several seeds: the `{sweep_name(path)}` sweep",
            f"`{path.as_posix()}`: each finalist trained once a seed on the committed split "
            "(`training_seed`), validation accuracy of the saved model as mean ± sd over its seeds, and its mean "
            "fit core-seconds; best mean first.",
            table(
                ["setting", "changes from the first", "seeds", "val accuracy, mean ± sd", "core-seconds", "against"],
                body,
            ),
        ]
    )
