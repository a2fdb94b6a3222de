"""Time the DVC pipeline, in parallel and one stage at a time, against bare Keras on the same machine and data.

    python -m benchmarks.run [--max-train-samples N] [--epochs N] [--output PATH] [--skip-...]

Three timed cold runs, each in its own fresh git copy of the project with an empty DVC
cache, made from one snapshot (another engineer may be editing the working tree):

  bare        `dvc repro download preprocess` (untimed) prepares the data, then the bare Keras
              scripts (bare_keras.py) train one after another, each in its own process;
  parallel    `make -s pipeline`, as `make repro` runs it: the training stages side by side;
  sequential  `dvc repro`, one stage at a time.

A probe on PYTHONPATH (probe/) records every stage process's start, end, CPU seconds, peak
RSS and whether it imported TensorFlow. Separate copies rather than `--force` in one, so
nothing a run cached or wrote can make the next one warmer; the same params and seed give
the same data and, the pipeline being deterministic, the same dvc.lock, which the run checks.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import bare_keras, peak
from benchmarks import project as proj
from benchmarks.measure import log_tail, machine, measure
from benchmarks.table import print_report

DATASET_DIR = "/usr/share/datasets/fashion-mnist"
PROBE_DIR = Path(__file__).resolve().parent / "probe"
BARE_SCRIPT = Path(__file__).resolve().parent / "bare_keras.py"
NON_MODEL_STAGES = ("download", "preprocess", "scratch_backprop", "plot_samples", "report")
BARE_MODELS = tuple(bare_keras.MODELS)
RUNS = {"parallel": ["make", "-s", "pipeline"], "sequential": ["dvc", "repro"]}
GIB = 1024


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=proj.ROOT / "benchmarks" / "results.json")
    parser.add_argument("--max-train-samples", type=int, help="sets data.max_train_samples (quick check)")
    parser.add_argument("--epochs", type=int, help="sets every model's epochs (quick check)")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--skip-parallel", action="store_true", help="no `make pipeline` run")
    parser.add_argument("--skip-sequential", action="store_true", help="no one-stage-at-a-time `dvc repro` run")
    parser.add_argument("--keep-temp", action="store_true", help="keep the project copies and logs")
    return parser.parse_args()


def param_overrides(args):
    params = {}
    if args.max_train_samples is not None:
        params["data.max_train_samples"] = args.max_train_samples
    if args.epochs is not None:
        params["mlp.epochs"] = args.epochs
        for variant, config in proj.lenet_variants_params().items():
            params[f"lenet.{variant}.epochs"] = args.epochs
            if config["schedule"]["kind"] == "cosine" and config["schedule"]["warmup_epochs"] >= args.epochs:
                params[f"lenet.{variant}.schedule.warmup_epochs"] = 0  # the schema wants warm-up < epochs
    return params


def base_env():
    env = dict(os.environ, FASHION_MNIST_DIR=DATASET_DIR, TF_CPP_MIN_LOG_LEVEL="2")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    # Under `make bench` these carry the outer make's flags and jobserver into `make pipeline`:
    # the parallel run should start as it does from a shell.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env


class StepFailed(Exception):
    pass


def step(cmd, cwd, env, log):
    result = measure(cmd, cwd, env, log)
    if result["returncode"] != 0:
        raise StepFailed(
            f"`{' '.join(map(str, cmd))}` in {cwd} exited {result['returncode']}; log {log}:\n{log_tail(log)}"
        )
    return result


def output(cmd, cwd, env):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise StepFailed(f"`{' '.join(cmd)}` in {cwd} exited {out.returncode}:\n{out.stderr[-1000:]}")
    return out.stdout


def run_bare(copy, workdir, env):
    """Every model bare_keras.py has a twin of; variants params.yaml adds beyond them have none."""
    prepare = step(["dvc", "repro", "download", "preprocess"], copy, env, workdir / "bare-prepare.log")
    models = {}
    for model in BARE_MODELS:
        log = workdir / f"bare-{model}.log"
        process = step([sys.executable, BARE_SCRIPT, model, "--project", copy], copy, env, log)
        fit = json.loads(Path(log).read_text().strip().splitlines()[-1])
        models[model] = {
            **fit,
            "process_wall_s": process["wall_s"],
            "process_cpu_s": process["cpu_s"],
            "peak_rss_mib": process["peak_rss_mib"],
        }
        print(f"bare {model}: fit {fit['fit_seconds']:.1f} s, process {process['wall_s']:.1f} s", flush=True)
    return {"prepare_wall_s": prepare["wall_s"], "models": models}


def cold_run(name, copy, workdir, env, peak_gflops):
    """One timed cold run, split per stage by the probe; stages that ran are kept even on failure."""
    probe_log, log = workdir / f"{name}-probe.jsonl", workdir / f"{name}.log"
    probed = dict(
        env,
        BENCH_PROBE_LOG=str(probe_log),
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROBE_DIR), env.get("PYTHONPATH")])),
    )
    run = measure(RUNS[name], copy, probed, log)
    print(f"{name}: cold `{' '.join(RUNS[name])}` {run['wall_s']:.1f} s", flush=True)
    lock = proj.lock_stages(copy)
    pairs = proj.cold_run_stages(log.read_text(), lock)
    matched = proj.match_probes(pairs, proj.read_probes(probe_log))
    stages = []
    for stage, cmd in pairs:
        records = matched[stage]
        first = records[0] if records else {}
        stages.append(
            {
                "stage": stage,
                "cmd": cmd,
                "runs": len(records),
                "start_s": first["start"] - run["started"] if first else None,
                "end_s": first["end"] - run["started"] if first else None,
                "wall_s": first.get("wall_s"),
                "cpu_s": first.get("cpu_s"),
                "peak_rss_mib": first["peak_rss_kib"] / 1024 if first else None,
                "imported_tensorflow": first.get("tensorflow"),
            }
        )
    stages.sort(key=lambda s: (s["start_s"] is None, s["start_s"]))
    stage_sum = sum(s["wall_s"] or 0 for s in stages)
    result = {
        "command": " ".join(RUNS[name]),
        "complete": run["returncode"] == 0,
        "wall_s": run["wall_s"],
        "cpu_s": run["cpu_s"],
        "peak_rss_mib": run["peak_rss_mib"],
        "stages": stages,
        "stage_commands_sum_s": stage_sum,
        # dvc's own time, when the stages run one at a time; side by side, the walls overlap
        "outside_stage_commands_s": run["wall_s"] - stage_sum if name == "sequential" else None,
        "lock": lock,
    }
    if not result["complete"]:
        return result, f"cold `{result['command']}` in {copy} exited {run['returncode']}; log {log}:\n{log_tail(log)}"
    result["training"] = training_window(stages)
    result["models"] = proj.model_records(copy)
    samples = sum(m["epochs"] * m["n_train"] for m in result["models"].values())
    result["training"].update(samples=samples, samples_per_s=samples / result["training"]["span_s"])
    add_efficiency(result, training_flops(copy, env), peak_gflops)
    return result, None


def training_flops(copy, env):
    """{model: FLOPs of its training}, counted from the networks the copy's params build (benchmarks/flops.py)."""
    out = output([sys.executable, "-m", "benchmarks.flops", str(copy)], proj.ROOT, env)
    return json.loads(out.strip().splitlines()[-1])


def add_efficiency(result, flops, peak_gflops):
    """Each training's GFLOP/s and share of its threads' peak; the whole run's arithmetic over wall x cores x peak."""
    for model, record in result["models"].items():
        gflops = flops[model] / record["fit_seconds"] / 1e9
        threads = record.get("intra_op_threads") or 1
        record.update(train_flops=flops[model], gflops=gflops, share_of_peak=gflops / (threads * peak_gflops))
    total = sum(flops[m] for m in result["models"])
    cores = len(os.sched_getaffinity(0))
    result["efficiency"] = {
        "train_flops": total,
        "peak_gflops_per_core": peak_gflops,
        "cores": cores,
        "share_of_machine_peak": total / (result["wall_s"] * cores * peak_gflops * 1e9),
    }


def training_window(stages):
    """From the first training stage's start to the last one's end: how many cores the training kept busy."""
    train = [s for s in stages if s["stage"].startswith("train_") and s["start_s"] is not None]
    start, end = min(s["start_s"] for s in train), max(s["end_s"] for s in train)
    cpu = sum(s["cpu_s"] for s in train)
    return {"stages": len(train), "start_s": start, "span_s": end - start, "cpu_s": cpu, "cores": cpu / (end - start)}


def after_parallel(copy, workdir, env):
    """What must hold once `make pipeline` is done, then the no-op `dvc repro` and `dvc status` timings."""
    status = json.loads(output(["dvc", "status", "--json"], copy, env) or "{}")
    listed = output(["dvc", "stage", "list", "--name-only"], copy, env).split()
    noop_logs = [workdir / f"noop-repro-{i}.log" for i in range(3)]
    noop = [step(["dvc", "repro"], copy, env, log) for log in noop_logs]
    timed_status = [step(["dvc", "status"], copy, env, workdir / f"status-{i}.log") for i in range(3)]
    return {
        "status_json": status,
        "stage_list": listed,
        "noop_repro_s": min(r["wall_s"] for r in noop),
        "noop_repro_runs_s": [r["wall_s"] for r in noop],
        "noop_repro_ran_stages": sorted({s for log in noop_logs for s, _ in proj.ran_stages(log.read_text())}),
        "status_s": min(r["wall_s"] for r in timed_status),
        "status_runs_s": [r["wall_s"] for r in timed_status],
    }


def tensorflow_on_import(copy, env):
    found = {}
    for stage in NON_MODEL_STAGES:
        code = f"import importlib, sys; importlib.import_module('stages.{stage}'); print('tensorflow' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], cwd=copy, env=env, capture_output=True, text=True)
        found[stage] = out.stdout.strip() == "True" if out.returncode == 0 else f"error: {out.stderr[-300:]}"
    return found


def compare(bare, runs):
    """Per model: the bare script against the pipeline one stage at a time and side by side."""
    rows = {}
    for model, b in bare["models"].items():
        seq, par = (runs.get(name, {}).get("models", {}).get(model) for name in ("sequential", "parallel"))
        p = seq or par
        if p is None:  # removed from params.yaml, or no pipeline run
            continue
        rows[model] = {
            "bare_fit_s": b["fit_seconds"],
            "sequential_fit_s": seq and seq["fit_seconds"],
            "parallel_fit_s": par and par["fit_seconds"],
            "bare_samples_per_s": b["samples_per_second"],
            "sequential_samples_per_s": seq and seq["samples_per_second"],
            "parallel_samples_per_s": par and par["samples_per_second"],
            # One process each, one at a time: the like-for-like figure (the parallel ones share the cores).
            "throughput_speedup": seq and seq["samples_per_second"] / b["samples_per_second"],
            "same_setup": all(b[k] == p[k] for k in ("epochs", "batch_size", "n_train", "params")),
            "bare_test_accuracy": b["test_accuracy"],
            "pipeline_test_accuracy": p["test_accuracy"],
        }
    return rows


def lock_differences(a, b):
    """The stages whose dvc.lock entries differ (cmd, dep, param or out hashes), or are in one lock only."""
    return sorted(stage for stage in a.keys() | b.keys() if a.get(stage) != b.get(stage))


def figures(bare, runs):
    found = {}
    par, seq = runs.get("parallel"), runs.get("sequential")
    bare_wall = bare and sum(m["process_wall_s"] for m in bare["models"].values())
    if bare:
        samples = sum(m["epochs"] * m["n_train"] for m in bare["models"].values())
        found["bare"] = {
            "process_walls_s": bare_wall,
            "fits_s": sum(m["fit_seconds"] for m in bare["models"].values()),
            "cores": sum(m["process_cpu_s"] for m in bare["models"].values()) / bare_wall,
            "samples": samples,
            "samples_per_s": samples / bare_wall,  # the process walls: the pipeline's span includes start-up too
        }
    if par and seq:
        found["parallel_over_sequential"] = par["wall_s"] / seq["wall_s"]
        found["lock_differences"] = lock_differences(par["lock"], seq["lock"])
    if par and bare:
        found["parallel_over_bare"] = par["wall_s"] / bare_wall
    return found


def targets(runs, found, checks, on_import):
    out = []

    def target(name, value, limit, passed):
        out.append({"target": name, "value": value, "limit": limit, "passed": bool(passed)})

    par, seq = runs.get("parallel"), runs.get("sequential")
    if par and seq:
        ratio = found["parallel_over_sequential"]
        target("cold make pipeline / cold dvc repro, wall", ratio, 0.75, ratio <= 0.75)
        target("make pipeline no slower than dvc repro (wall s)", par["wall_s"], seq["wall_s"], ratio <= 1)
        diff = found["lock_differences"]
        target("dvc.lock of make pipeline == of dvc repro", diff or "identical", "identical", not diff)
    if par:
        cores = par["training"]["cores"]
        target("make pipeline: average cores over training", cores, 1.7, cores >= 1.7)
    if "bare" in found and par:
        limit = 1.10 * found["bare"]["process_walls_s"]
        target("cold make pipeline <= 1.10 x sum of bare process walls", par["wall_s"], limit, par["wall_s"] <= limit)
    if checks:
        status = checks["status_json"]
        target("after make pipeline: dvc status --json", json.dumps(status), "{}", status == {})
        locked, listed = set(par["lock"]), set(checks["stage_list"])
        missing, extra = sorted(listed - locked), sorted(locked - listed)
        value = f"missing {missing}, extra {extra}" if missing or extra else "same"
        target("after make pipeline: dvc.lock stages == dvc stage list", value, "same", locked == listed)
        noop = checks["noop_repro_s"]
        target("no-op dvc repro <= 2.0 s (best of 3)", noop, 2.0, noop <= 2.0)
    done = [run for run in (par, seq) if run]
    for stage in NON_MODEL_STAGES:
        in_runs = [next((s for s in run["stages"] if s["stage"] == stage), {}) for run in done]
        tf = [on_import.get(stage)] + [s.get("imported_tensorflow") for s in in_runs]
        want = [False] * len(tf)
        target(f"{stage}: no TensorFlow (on import, in each run)", str(tf), str(want), tf == want)
        walls = [s.get("wall_s") for s in in_runs]
        worst = max((w for w in walls if w is not None), default=None)
        target(f"{stage}: < 5 s (slowest run)", worst, 5.0, None not in walls and worst is not None and worst < 5.0)
    stages = [s for run in done for s in run["stages"]]
    if stages:
        worst = max(stages, key=lambda s: s["peak_rss_mib"] or 0)
        target(
            f"every stage peak RSS <= 1.5 GiB, both runs (max: {worst['stage']})",
            worst["peak_rss_mib"],
            1.5 * GIB,
            all(s["peak_rss_mib"] is not None for s in stages) and worst["peak_rss_mib"] <= 1.5 * GIB,
        )
    return out


def main():
    args = parse_args()
    if not Path(DATASET_DIR).is_dir():
        sys.exit(f"{DATASET_DIR} missing: apt-get install dataset-fashion-mnist")
    params, env = param_overrides(args), base_env()
    workdir = Path(tempfile.mkdtemp(prefix="dvc-bench-"))
    results = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        # the limit: one thread's float32 matrix product under the pin (benchmarks/peak.py), before anything runs
        "peak": peak.measure(),
        "param_overrides": params,
        "workdir": str(workdir),
        "errors": [],
    }
    names = [n for n, skip in (("parallel", args.skip_parallel), ("sequential", args.skip_sequential)) if not skip]
    copies = {"bare": proj.make_copy(workdir / "bare", params, env)}
    for name in names:  # copied before anything runs: each starts with no outputs and an empty cache
        copies[name] = workdir / name
        shutil.copytree(copies["bare"], copies[name], symlinks=True)

    def attempt(what, *args):
        """A failed step is reported and ends only its own run: the others still give their figures."""
        try:
            return what(*args)
        except StepFailed as error:
            results["errors"].append(str(error))
        except (OSError, KeyError, ValueError) as error:  # a stage's report files changed shape
            results["errors"].append(f"reading results: {error!r}")

    bare = None if args.skip_bare else attempt(run_bare, copies["bare"], workdir, env)
    runs, checks = {}, None
    for name in names:
        run, error = attempt(cold_run, name, copies[name], workdir, env, results["peak"]["gflops"]) or (None, None)
        if error:
            results["errors"].append(error)
        if run:
            runs[name] = run
        if name == "parallel" and run and not error:
            checks = attempt(after_parallel, copies[name], workdir, env)
    on_import = tensorflow_on_import(copies["bare"], env)
    complete = {name: run for name, run in runs.items() if run["complete"]}
    results.update(bare=bare, runs=runs, after_parallel=checks, tensorflow_on_import=on_import)
    results["load_average_at_end"] = os.getloadavg()
    prepared = {name: proj.data_fingerprint(copies[name]) for name in [*(["bare"] if bare else []), *complete]}
    results["same_data"] = len(set(prepared.values())) == 1 if len(prepared) > 1 else None
    results["figures"] = figures(bare, complete)
    results["comparison"] = compare(bare, complete) if bare else {}
    results["targets"] = targets(complete, results["figures"], checks, on_import)
    for run in runs.values():  # compared above; the hashes themselves are in the copies' dvc.lock
        run["locked_stages"] = sorted(run.pop("lock"))

    print_report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {args.output}")
    if args.keep_temp or results["errors"]:
        print(f"project copies and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
