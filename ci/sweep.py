"""A sweep on validation, priced: queue its runs with DVC, wait for them, table them with their cost.

    python -m ci.sweep queue sweeps/<name>.yaml [--jobs 2]   # queue every run not yet finished, start workers
    python -m ci.sweep wait sweeps/<name>.yaml               # until the queue is empty; exit 1 if a run failed
    python -m ci.sweep collect sweeps/<name>.yaml            # its table, reports/sweeps/<name>.csv

A sweep file names the params entry its runs override (`variant`, an entry of `lenet`), the stage to
run (`target`, training only, so the test set stays unread) and one mapping of overrides a run; the first
run is the baseline the others are priced against. With `seeds`, each run is trained once a seed
(`training_seed`: the committed split, another draw of the training), for finalists. Each run is the
DVC experiment `<file stem>-<run>`: a run already finished is not queued again, so a sweep cut off
half-way resumes where it stopped. The table holds every run: its overrides, validation accuracy,
parameters, training GFLOP (from the tracked metrics), and its fit's core-seconds and CPU model, which
the training logs outside git (logs/timing.jsonl) because they vary run to run.
"""

import argparse
import csv
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from stages import models, params
from stages.common import StageError, write_text
from stages.pricing import SWEEPS_DIR
from stages.training import TIMING_LOG

TRAINING_SEED = "training_seed"  # a sweep's `seeds`: each run retrained with these on the committed split
METRICS = ("best_val_accuracy", "tta_val_accuracy", "best_epoch", "parameters", "training_gflop")
COST = ("fit_core_seconds", "fit_seconds", "cpu_model")


def load_sweep(path):
    try:
        sweep = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise StageError(f"{path}: cannot read a sweep ({error})".splitlines()[0]) from None
    missing = {"variant", "target", "runs"} - set(sweep or {})
    if missing:
        raise StageError(f"{path}: missing {', '.join(sorted(missing))}: expected variant, target and runs")
    return sweep


def run_names(path, sweep):
    """{experiment name: its overrides}; with `seeds`, a run a seed: `<stem>-<run>-seed<N>`, on the committed split."""
    stem, seeds = Path(path).stem, sweep.get("seeds")
    if not seeds:
        return {f"{stem}-{run}": overrides or {} for run, overrides in sweep["runs"].items()}
    # The seed params.yaml trains with needs no override: that run's params equal the plain sweep's, so DVC
    # restores it from the run-cache instead of training it again.
    default = params.load().get("seed")
    return {
        f"{stem}-{run}-seed{seed}": {**(overrides or {}), **({} if seed == default else {TRAINING_SEED: seed})}
        for run, overrides in sweep["runs"].items()
        for seed in seeds
    }


def dvc(*args, timeout=600):
    result = subprocess.run(["dvc", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise StageError(f"dvc {' '.join(args[:3])}: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout


def finished():
    """{experiment name: its data (params, metrics)} for every experiment that finished successfully, whatever
    commit it ran on: a sweep queued before a commit still finishes on the commit it was queued from."""
    baselines = re.findall(r"^(\S+):$", dvc("exp", "ls", "--all-commits"), re.MULTILINE)
    rows = {}
    for baseline in baselines:
        for entry in json.loads(dvc("exp", "show", "--json", "--rev", baseline)):
            for experiment in entry.get("experiments") or []:
                state = (experiment.get("executor") or {}).get("state", "success")  # a run in git has none
                for rev in experiment.get("revs", []):
                    if state == "success" and rev.get("name") and rev.get("data"):
                        rows[rev["name"]] = rev["data"]
    return rows


def queued():
    """Names of the runs waiting or running in DVC's queue."""
    names = set()
    for line in dvc("queue", "status").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[-1] in ("Queued", "Running"):  # Task Name Created (06:11 AM) Status
            names.add(parts[1])
    return names


def overrides_args(variant, overrides):
    """`-S lenet.<variant>.<key>=<value>` a key (`training_seed` at the top), values in YAML flow style."""
    args = []
    for key, value in overrides.items():
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        args += ["-S", f"{key if key == TRAINING_SEED else f'lenet.{variant}.{key}'}={text}"]
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
    # The workers DVC starts outlive this command and would hold a captured pipe open until the sweep ends.
    subprocess.run(["dvc", "queue", "start", "-j", str(jobs)], stdout=subprocess.DEVNULL, timeout=120, check=True)


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
    keys = sorted({key for overrides in names.values() for key in flat(overrides)} - {TRAINING_SEED})
    keys += ["seed"] if sweep.get("seeds") else []  # the seed training drew from
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["experiment", "model", *keys, *METRICS, *COST])
    for name in names:
        data = rows.get(name)
        if data is None:
            continue
        everything = data["params"]["params.yaml"]["data"]
        drawn = everything.get(TRAINING_SEED)
        values = {**flat(everything["lenet"][variant]), "seed": everything["seed"] if drawn is None else drawn}
        metrics = next(
            (m["data"] for file, m in data["metrics"].items() if file.endswith(f"/{model}/metrics.json")), {}
        )
        cost = costs.get((name, model), {})
        cells = [json.dumps(values.get(key)) if isinstance(values.get(key), list) else values.get(key) for key in keys]
        writer.writerow([name, model, *cells, *(metrics.get(m) for m in METRICS), *(cost.get(c) for c in COST)])
    return out.getvalue()


def collect(path):
    sweep = load_sweep(path)
    text = table(path, sweep, finished(), latest_costs(TIMING_LOG))
    csv_path = SWEEPS_DIR / f"{Path(path).stem}.csv"
    write_text(csv_path, text)
    print(f"{csv_path}: {len(text.splitlines()) - 1} runs")


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
