"""Time the DVC pipeline cold, side by side and one stage at a time, against bare Keras on the same machine and data.

    python -m benchmarks.run [--max-train-samples N] [--epochs N] [--output PATH] [--skip-...] [--keep-temp]

Three cold runs, each in its own clone of the current commit with no dvc.lock and an empty DVC
cache, so that nothing one run cached or wrote makes the next one warmer:

  bare        `dvc repro download preprocess` (untimed), then bare_keras.py for each model, one process after another;
  parallel    `make -s pipeline`, as `make repro` runs it: the models' arms side by side;
  sequential  `dvc repro`, one stage at a time.

A probe on PYTHONPATH (probe/) records each stage process's start, end, CPU seconds, peak RSS and
whether it imported TensorFlow. The results go to benchmarks/results.json; `python docs/generate.py`
renders them, against their targets, in docs/performance.md.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.measure import ROOT, StepFailed, base_env, cold_clone, machine, measure, peak, step
from ci import overrides
from stages import models
from stages.common import METRICS_DIR, TRAINING_DIR, model_outputs

PROBE_DIR = Path(__file__).resolve().parent / "probe"
RUNS = {"parallel": ["make", "-s", "pipeline"], "sequential": ["dvc", "repro"]}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--max-train-samples", type=int, help="sets data.max_train_samples (quick check)")
    parser.add_argument("--epochs", type=int, help="sets every model's epochs (quick check)")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--skip-parallel", action="store_true", help="no `make pipeline` run")
    parser.add_argument("--skip-sequential", action="store_true", help="no one-stage-at-a-time `dvc repro` run")
    parser.add_argument("--keep-temp", action="store_true", help="keep the project copies and logs")
    return parser.parse_args()


def param_overrides(args, raw):
    params = {} if args.max_train_samples is None else {"data.max_train_samples": args.max_train_samples}
    return params | (overrides.epochs(raw, args.epochs) if args.epochs is not None else {})


def run_bare(copy, workdir, env, names):
    """bare_keras.py for each model, in a process of its own; a model it has no twin of is an error of its own."""
    prepare = step(["dvc", "repro", "download", "preprocess"], copy, env, workdir / "bare-prepare.log")
    found, errors = {}, []
    for model in names:
        log = workdir / f"bare-{model}.log"
        try:
            process = step([sys.executable, "-m", "benchmarks.bare_keras", model, "--project", copy], ROOT, env, log)
        except StepFailed as error:
            errors.append(str(error))
            continue
        fit = json.loads(log.read_text().strip().splitlines()[-1])
        found[model] = fit | {f"process_{k}": process[k] for k in ("wall_s", "cpu_s")}
        print(f"bare {model}: fit {fit['fit_seconds']:.1f} s, process {process['wall_s']:.1f} s", flush=True)
    return {"prepare_wall_s": prepare["wall_s"], "models": found}, errors


def cold_run(name, copy, workdir, env, names, peak_gflops):
    """One timed cold run, split per stage by the probe's records; the stages that ran are kept even on failure."""
    probe_log, log = workdir / f"{name}-probe.jsonl", workdir / f"{name}.log"
    path = os.pathsep.join(filter(None, [str(PROBE_DIR), env.get("PYTHONPATH")]))
    run = measure(RUNS[name], copy, env | {"BENCH_PROBE_LOG": str(probe_log), "PYTHONPATH": path}, log)
    print(f"{name}: cold `{' '.join(RUNS[name])}` {run['wall_s']:.1f} s", flush=True)
    lock = yaml.safe_load((copy / "dvc.lock").read_text())["stages"] if (copy / "dvc.lock").exists() else {}
    probes = [json.loads(line) for line in probe_log.read_text().splitlines()] if probe_log.exists() else []
    stages = []
    for stage, entry in lock.items():
        args = shlex.split(entry["cmd"])[1:]  # argv[0] is however the shell found python
        record = min((r for r in probes if r["argv"][1:] == args), key=lambda r: r["start"], default=None)
        if record:
            stages.append(
                {
                    "stage": stage,
                    "start_s": record["start"] - run["started"],
                    "end_s": record["end"] - run["started"],
                    "wall_s": record["wall_s"],
                    "cpu_s": record["cpu_s"],
                    "peak_rss_mib": record["peak_rss_kib"] / 1024,
                    "imported_tensorflow": record["tensorflow"],
                }
            )
    stages.sort(key=lambda s: s["start_s"])
    if run["returncode"] != 0:
        raise StepFailed(f"cold `{' '.join(RUNS[name])}` in {copy} exited {run['returncode']}; log {log}")
    result = {"command": " ".join(RUNS[name]), "stages": stages, "lock": lock}
    result |= {k: run[k] for k in ("wall_s", "cpu_s", "peak_rss_mib")}
    train = [s for s in stages if s["stage"].startswith("train_")]
    start, end = min(s["start_s"] for s in train), max(s["end_s"] for s in train)
    cpu = sum(s["cpu_s"] for s in train)
    # How many cores the trainings kept busy, from the first one's start to the last one's end.
    result["training"] = {"span_s": end - start, "cpu_s": cpu, "cores": cpu / (end - start)}
    result["models"] = model_records(copy, names, peak_gflops)
    return result


def model_records(copy, names, peak_gflops):
    """Per model, what its training and evaluation wrote: settings, sample count, fit time, work and accuracy.

    Its arithmetic rate against the peak of the threads it trained with: how far from the machine's limit.
    """
    timings = {r["model"]: r for r in map(json.loads, (copy / "logs/timing.jsonl").read_text().splitlines())}
    records = {}
    for model in names:
        training = json.loads((copy / TRAINING_DIR / model / "training.json").read_text())
        summary = json.loads((copy / model_outputs(model)["summary"]).read_text())
        metrics = json.loads((copy / METRICS_DIR / f"{model}.json").read_text())
        threads = training["bits_decided_by"]["intra_op_threads"] or 1
        gflops = summary["training_gflop"] / timings[model]["fit_seconds"]
        records[model] = {
            "epochs": training["config"]["epochs"],
            "batch_size": training["config"]["batch_size"],
            "n_train": training["train_samples"],
            "params": training["params"]["total"],
            "fit_seconds": timings[model]["fit_seconds"],
            "fit_core_seconds": timings[model]["fit_core_seconds"],
            "samples_per_second": timings[model]["samples_per_second"],
            "training_gflop": summary["training_gflop"],
            "gflops": gflops,
            "share_of_peak": gflops / (threads * peak_gflops),
            "best_val_accuracy": summary["best_val_accuracy"],
            "test_accuracy": metrics["test"]["accuracy"],
        }
    return records


def no_op_timings(copy, workdir, env):
    """Once everything is done: `dvc repro` (which should find nothing to do) and `dvc status`, best of 3 each."""
    timed = {}
    for name, cmd in (("noop_repro", ["dvc", "repro"]), ("status", ["dvc", "status"])):
        runs = [step(cmd, copy, env, workdir / f"{name}-{i}.log")["wall_s"] for i in range(3)]
        timed |= {f"{name}_s": min(runs), f"{name}_runs_s": runs}
    return timed


def main():
    args = parse_args()
    env, workdir = base_env(), Path(tempfile.mkdtemp(prefix="dvc-bench-"))
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    params, names = param_overrides(args, raw), models.names(raw)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    results = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": commit.stdout.strip(),
        "machine": machine(),
        "load_average_at_start": os.getloadavg(),
        "param_overrides": params,
        # the limit, before anything runs: one thread's float32 matrix product under the pin (benchmarks/peak.py)
        "peak": peak(),
        "errors": [],
    }
    skip = {"bare": args.skip_bare, "parallel": args.skip_parallel, "sequential": args.skip_sequential}
    copies = {kind: cold_clone(workdir / kind, params, env) for kind in skip if not skip[kind]}  # before any run
    bare, runs = None, {}
    if "bare" in copies:
        bare, errors = run_bare(copies["bare"], workdir, env, names)
        results["errors"] += errors
    for name in [name for name in RUNS if name in copies]:
        try:
            runs[name] = cold_run(name, copies[name], workdir, env, names, results["peak"]["gflops"])
            if name == "parallel":
                results["after_parallel"] = no_op_timings(copies[name], workdir, env)
        except StepFailed as error:  # ends only its own run: the others still give their figures
            results["errors"].append(str(error))
    if len(runs) == 2:  # the same code, params and data: the same hashes, whatever the order the stages ran in
        a, b = (runs[name].pop("lock") for name in RUNS)
        results["figures"] = {"lock_differences": sorted(s for s in a.keys() | b.keys() if a.get(s) != b.get(s))}
    results |= {"bare": bare, "runs": runs, "load_average_at_end": os.getloadavg()}
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {args.output}; `python docs/generate.py` renders it in docs/performance.md")
    for error in results["errors"]:
        print(f"error: {error}", file=sys.stderr)
    if args.keep_temp or results["errors"]:
        print(f"project clones and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
