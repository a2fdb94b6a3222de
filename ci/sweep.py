"""A sweep on validation, priced: queue its runs with DVC, wait for them, table them with their cost.

    python -m ci.sweep queue sweeps/<name>.yaml [--jobs 2]   # queue every run not yet finished, start workers
    python -m ci.sweep wait sweeps/<name>.yaml               # until the queue is empty; exit 1 if a run failed
    python -m ci.sweep collect sweeps/<name>.yaml            # the table the file's `csv` names

A sweep file names the params entry its runs override (`variant`, an entry of `lenet`), the stage to
run (`target`, training only, so the test set stays unread) and one mapping of overrides a run. Each
run is the DVC experiment `<file stem>-<run>`: a run already finished is not queued again, so a sweep
cut off half-way resumes where it stopped. The table holds every run: its overrides, validation
accuracy, parameters, training GFLOP (from the tracked metrics), and its fit's core-seconds and CPU
model, which the training logs outside git (logs/timing.jsonl) because they vary run to run.
"""

import argparse
import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from stages import models
from stages.common import StageError, write_text
from stages.training import TIMING_LOG

METRICS = ("best_val_accuracy", "tta_val_accuracy", "best_epoch", "parameters", "training_gflop")
COST = ("fit_core_seconds", "fit_seconds", "cpu_model")


def load_sweep(path):
    try:
        sweep = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise StageError(f"{path}: cannot read a sweep ({error})".splitlines()[0]) from None
    missing = {"variant", "target", "csv", "runs"} - set(sweep or {})
    if missing:
        raise StageError(f"{path}: missing {', '.join(sorted(missing))}: expected variant, target, csv and runs")
    return sweep


def run_names(path, sweep):
    return {f"{Path(path).stem}-{run}": overrides or {} for run, overrides in sweep["runs"].items()}


def dvc(*args, timeout=600):
    result = subprocess.run(["dvc", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise StageError(f"dvc {' '.join(args[:3])}: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout


def finished():
    """{experiment name: its data (params, metrics)} for the experiments of the current commit."""
    rows = {}
    for baseline in json.loads(dvc("exp", "show", "--json")):
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs", []):
                if rev.get("name") and rev.get("data"):
                    rows[rev["name"]] = rev["data"]
    return rows


def queued():
    """Names of the runs waiting or running in DVC's queue."""
    names = set()
    for line in dvc("queue", "status").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[-3] in ("Queued", "Running"):  # Task Name Created Status
            names.add(parts[1])
    return names


def overrides_args(variant, overrides):
    """`-S lenet.<variant>.<key>=<value>` a key, values in YAML flow style (lists as [a, b])."""
    args = []
    for key, value in overrides.items():
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        args += ["-S", f"lenet.{variant}.{key}={text}"]
    return args


def queue(path, jobs):
    sweep = load_sweep(path)
    done, waiting = finished(), queued()
    for name, overrides in run_names(path, sweep).items():
        if name in done or name in waiting:
            print(f"{name}: {'finished' if name in done else 'queued'} already")
            continue
        dvc("exp", "run", "--queue", sweep["target"], "-n", name, *overrides_args(sweep["variant"], overrides))
        print(f"{name}: queued")
    dvc("queue", "start", "-j", str(jobs))


def wait(path, poll_seconds=30):
    """Until nothing of the sweep is queued or running; then every run must have finished (DVC #10673)."""
    names = run_names(path, load_sweep(path))
    while queued() & names.keys():
        time.sleep(poll_seconds)
    missing = sorted(names.keys() - finished().keys())
    if missing:
        raise StageError(f"{path}: runs that did not finish: {', '.join(missing)}; `dvc queue logs <name>` says why")


def latest_costs(log):
    """{(experiment, model): the last timing line of that run}."""
    costs = {}
    if log.exists():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            costs[entry.get("experiment"), entry["model"]] = entry
    return costs


def flat(mapping, prefix=""):
    out = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def table(path, sweep, rows, costs):
    """CSV text, a line a run: its overrides (the keys any run changes), metrics and cost."""
    variant, model = sweep["variant"], models.LENET_PREFIX + sweep["variant"]
    names = run_names(path, sweep)
    keys = sorted({key for overrides in names.values() for key in flat(overrides)})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["experiment", *keys, *METRICS, *COST])
    for name in names:
        data = rows.get(name)
        if data is None:
            continue
        params = flat(data["params"]["params.yaml"]["data"]["lenet"][variant])
        metrics = next(
            (m["data"] for file, m in data["metrics"].items() if file.endswith(f"/{model}/metrics.json")), {}
        )
        cost = costs.get((name, model), {})
        cells = [json.dumps(params.get(key)) if isinstance(params.get(key), list) else params.get(key) for key in keys]
        writer.writerow([name, *cells, *(metrics.get(m) for m in METRICS), *(cost.get(c) for c in COST)])
    return out.getvalue()


def collect(path):
    sweep = load_sweep(path)
    text = table(path, sweep, finished(), latest_costs(TIMING_LOG))
    write_text(sweep["csv"], text)
    print(f"{sweep['csv']}: {len(text.splitlines()) - 1} runs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("queue", "wait", "collect"))
    parser.add_argument("sweep", help="a sweep file, such as sweeps/cheaper.yaml")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (queue)")
    args = parser.parse_args()
    if args.command == "queue":
        queue(args.sweep, args.jobs)
    elif args.command == "wait":
        wait(args.sweep)
    else:
        collect(args.sweep)


if __name__ == "__main__":
    try:
        main()
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
