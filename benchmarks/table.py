"""The benchmark's results as plain-text tables (the JSON holds the same figures)."""


def fmt(value):
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        # Three decimals, so a failing ratio of 1.497 does not print as "1.50".
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(title, header, rows, left=1):
    cells = [header] + [[fmt(v) if not isinstance(v, str) else v for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    # The first `left` columns are names, left-aligned; the rest are numbers, right-aligned.
    def line(row):
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False))
        )

    print(f"\n{title}\n" + line(header) + "\n" + "  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def print_report(r):
    m = r["machine"]
    print(
        f"\n=== benchmark {r['started']}: {m['cpu_model']} (AVX-512: {fmt(m['avx512f'])}), {m['cpu_count']} CPUs, "
        f"{m['usable_cpus']} usable; load average {r['load_average_at_start'][0]:.2f} at start, "
        f"{r['load_average_at_end'][0]:.2f} at end; param overrides: {r['param_overrides'] or 'none'}"
    )
    for error in r["errors"]:
        print(f"\nERROR: {error}")
    bare, runs, f = r.get("bare"), r.get("runs", {}), r.get("figures", {})
    if bare:
        print_bare(bare)
    if runs:
        print_stages(runs)
    if f.get("bare") or any("training" in run for run in runs.values()):
        print_training(r, runs, f)
    checks = r.get("after_parallel")
    if checks:
        print(
            f"no-op dvc repro best of 3: {checks['noop_repro_s']:.2f} s "
            f"(runs {', '.join(f'{t:.2f}' for t in checks['noop_repro_runs_s'])}; "
            f"stages re-run: {checks['noop_repro_ran_stages'] or 'none'}); dvc status best of 3: "
            f"{checks['status_s']:.2f} s (runs {', '.join(f'{t:.2f}' for t in checks['status_runs_s'])})"
        )
    if any("efficiency" in run for run in runs.values()):
        print_efficiency(r, runs)
    if r.get("comparison"):
        print_comparison(r)
    if r.get("targets"):
        table(
            "Targets",
            ["result", "target", "value", "limit"],
            [["PASS" if t["passed"] else "FAIL", t["target"], t["value"], t["limit"]] for t in r["targets"]],
            left=2,
        )


BARE_COLUMNS = {
    "params": "params",
    "epochs": "epochs",
    "batch": "batch_size",
    "fit s": "fit_seconds",
    "process s": "process_wall_s",
    "CPU s": "process_cpu_s",
    "samples/s": "samples_per_second",
    "val acc": "val_accuracy",
    "test acc": "test_accuracy",
    "peak RSS MiB": "peak_rss_mib",
}
COMPARISON_COLUMNS = {
    "bare fit s": "bare_fit_s",
    "repro fit s": "sequential_fit_s",
    "make fit s": "parallel_fit_s",
    "bare samples/s": "bare_samples_per_s",
    "repro samples/s": "sequential_samples_per_s",
    "make samples/s": "parallel_samples_per_s",
    "repro/bare": "throughput_speedup",
    "bare test acc": "bare_test_accuracy",
    "pipe test acc": "pipeline_test_accuracy",
}


def print_bare(bare):
    table(
        "Bare Keras (one fresh process per model, one after another)",
        ["model", *BARE_COLUMNS],
        [[m, *(b[k] for k in BARE_COLUMNS.values())] for m, b in bare["models"].items()],
    )


def print_stages(runs):
    par, seq = runs.get("parallel", {}), runs.get("sequential", {})
    by_run = [{s["stage"]: s for s in run.get("stages", [])} for run in (par, seq)]
    names = list(dict.fromkeys([*by_run[1], *by_run[0]]))  # the one-at-a-time order reads as the pipeline
    rows = []
    for name in names:
        p, q = (stages.get(name, {}) for stages in by_run)
        rss = [s["peak_rss_mib"] for s in (p, q) if s.get("peak_rss_mib") is not None]
        seen = {s["imported_tensorflow"] for s in (p, q) if s.get("imported_tensorflow") is not None}
        tf = fmt(seen.pop()) if len(seen) == 1 else "mixed" if seen else "n/a"
        times = [p.get("start_s"), p.get("end_s"), p.get("cpu_s"), q.get("wall_s"), q.get("cpu_s")]
        rows.append([name, *times, max(rss, default=None), tf, max(s["runs"] for s in (p, q) if s)])
    table(
        "Pipeline stages, two cold runs (each stage's own process, by the probe; make's times from its start)",
        ["stage", "make: start s", "end s", "CPU s", "repro: wall s", "CPU s", "peak RSS MiB", "imports TF", "runs"],
        rows,
    )
    for run in (par, seq):
        if run:
            outside = run["outside_stage_commands_s"]
            print(
                f"cold `{run['command']}`: {run['wall_s']:.2f} s, CPU {run['cpu_s']:.2f} s; stage commands' walls "
                f"add up to {run['stage_commands_sum_s']:.2f} s"
                + (f", dvc's own time {outside:.2f} s" if outside is not None else "")
                + f"; peak RSS of the whole tree {run['peak_rss_mib']:.0f} MiB"
            )


def print_training(r, runs, f):
    rows = []
    for name, label in (("parallel", "make pipeline"), ("sequential", "dvc repro")):
        t = runs.get(name, {}).get("training")
        if t:
            rows.append([label, t["stages"], t["span_s"], t["cpu_s"], t["cores"], t["samples"], t["samples_per_s"]])
    b = f.get("bare")
    if b:
        n = len(r["bare"]["models"])
        rows.append(["bare Keras", n, b["process_walls_s"], b["cores"] * b["process_walls_s"], b["cores"]])
        rows[-1] += [b["samples"], b["samples_per_s"]]
    table(
        "Training: first train stage's start to last one's end (bare: its processes' walls, summed)",
        ["run", "processes", "span s", "CPU s", "cores", "samples", "samples/s"],
        rows,
    )
    par, seq = (runs.get(name, {}) for name in ("parallel", "sequential"))
    if "parallel_over_sequential" in f:
        line = (
            f"make pipeline / dvc repro: {par['wall_s']:.1f} s / {seq['wall_s']:.1f} s = "
            f"{f['parallel_over_sequential']:.3f} (target <= 0.75)"
        )
        if "parallel_over_bare" in f:
            line += f"; against the bare scripts' {b['process_walls_s']:.1f} s: {f['parallel_over_bare']:.3f}"
        print(line)
    if par.get("training") and seq.get("training"):
        pt, st = par["training"], seq["training"]
        print(
            f"cores used while training: {pt['cores']:.2f} side by side (target >= 1.7), {st['cores']:.2f} one by one"
        )
        print(
            f"{r['machine']['usable_cpus']} training processes side by side reach {pt['samples_per_s']:,.0f} samples/s "
            f"combined against {st['samples_per_s']:,.0f} one at a time"
            + (f" (bare Keras, one at a time: {b['samples_per_s']:,.0f})" if b else "")
        )


def print_comparison(r):
    table(
        "Per model: bare Keras vs the pipeline one stage at a time (repro) and side by side (make)",
        ["model", *COMPARISON_COLUMNS],
        [[m, *(c[k] for k in COMPARISON_COLUMNS.values())] for m, c in r["comparison"].items()],
    )
    same = all(c["same_setup"] for c in r["comparison"].values())
    print(
        f"same prepared arrays in every copy: {fmt(r['same_data'])}; "
        f"same epochs, batch sizes, sample counts and parameter counts: {fmt(same)}"
    )


def print_efficiency(r, runs):
    """Against the machine's own limit: each training's GFLOP/s, and the whole cold run's share of the peak."""
    p = r["peak"]
    print(
        f"\npeak: one thread's float32 matrix product ({p['size']}^2, cpu_isa {p['cpu_isa']}): "
        f"{p['gflops']:.1f} GFLOP/s"
    )
    for name, run in runs.items():
        if "efficiency" not in run:
            continue
        rows = [
            [
                m,
                rec.get("intra_op_threads"),
                rec["train_flops"] / 1e12,
                rec["fit_seconds"],
                rec["gflops"],
                rec["share_of_peak"],
            ]
            for m, rec in run["models"].items()
        ]
        table(
            f"Arithmetic, {name} run: each training against its threads' peak",
            ["model", "threads", "train TFLOP", "fit s", "GFLOP/s", "share of peak"],
            rows,
        )
        e = run["efficiency"]
        print(
            f"whole cold run: {e['train_flops'] / 1e12:.2f} TFLOP of training in {run['wall_s']:.1f} s "
            f"on {e['cores']} cores = {e['share_of_machine_peak']:.1%} of the machine's peak"
        )
