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
    print(
        f"\n=== benchmark {r['started']}: {r['cpus']} CPUs, load average "
        f"{r['load_average_at_start'][0]:.2f} at start, {r['load_average_at_end'][0]:.2f} at end; "
        f"param overrides: {r['param_overrides'] or 'none'}"
    )
    for error in r["errors"]:
        print(f"\nERROR: {error}")
    bare, pipe = r.get("bare"), r.get("pipeline")
    if bare:
        table(
            "Bare Keras (one fresh process per model)",
            [
                "model",
                "params",
                "epochs",
                "batch",
                "fit s",
                "process s",
                "samples/s",
                "val acc",
                "test acc",
                "peak RSS MiB",
            ],
            [
                [
                    m,
                    b["params"],
                    b["epochs"],
                    b["batch_size"],
                    b["fit_seconds"],
                    b["process_wall_s"],
                    b["samples_per_second"],
                    b["val_accuracy"],
                    b["test_accuracy"],
                    b["peak_rss_mib"],
                ]
                for m, b in bare["models"].items()
            ],
        )
        fits = [b["fit_seconds"] for b in bare["models"].values()]
        procs = [b["process_wall_s"] for b in bare["models"].values()]
        print(
            f"sum of bare process walls {sum(procs):.2f} s (target basis: x1.10 = {1.1 * sum(procs):.2f} s); "
            f"sum of fit-only times {sum(fits):.2f} s (x1.10 = {1.1 * sum(fits):.2f} s)"
        )
    if pipe:
        table(
            "Pipeline: one cold `dvc repro` (stage = its command's process, measured by the probe)",
            ["stage", "wall s", "peak RSS MiB", "imports TF"],
            [[s["stage"], s["wall_s"], s["peak_rss_mib"], s["imported_tensorflow"]] for s in pipe["stages"]],
        )
        print(
            f"cold dvc repro {pipe['cold_repro']['wall_s']:.2f} s = stage commands "
            f"{pipe['stage_commands_sum_s']:.2f} s + dvc overhead {pipe['dvc_overhead_s']:.2f} s; "
            f"peak RSS of the whole tree {pipe['cold_repro']['peak_rss_mib']:.0f} MiB"
        )
    if pipe and pipe["complete"]:
        print(
            f"no-op dvc repro best of 3: {pipe['noop_repro_s']:.2f} s "
            f"(runs {', '.join(f'{t:.2f}' for t in pipe['noop_repro_runs_s'])}; "
            f"stages re-run: {pipe['noop_repro_ran_stages'] or 'none'})"
        )
        print(
            f"dvc status best of 3: {pipe['status_s']:.2f} s "
            f"(runs {', '.join(f'{t:.2f}' for t in pipe['status_runs_s'])})"
        )
    if r.get("comparison"):
        table(
            "Pipeline (train_* + evaluate_* stages) vs bare process (ratio = pipeline s / bare s)",
            [
                "model",
                "bare s",
                "pipeline s",
                "ratio",
                "bare samples/s",
                "pipe samples/s",
                "speedup",
                "bare test acc",
                "pipe test acc",
            ],
            [
                [
                    m,
                    c["bare_process_s"],
                    c["pipeline_stages_s"],
                    c["ratio_pipeline_over_bare"],
                    c["bare_samples_per_s"],
                    c["pipeline_samples_per_s"],
                    c["throughput_speedup"],
                    c["bare_test_accuracy"],
                    c["pipeline_test_accuracy"],
                ]
                for m, c in r["comparison"].items()
            ],
        )
        same = all(c["same_epochs_and_batch"] for c in r["comparison"].values())
        print(f"same prepared arrays in both copies: {fmt(r['same_data'])}; same epochs and batch sizes: {fmt(same)}")
        table(
            "Targets",
            ["result", "target", "value", "limit"],
            [["PASS" if t["passed"] else "FAIL", t["target"], t["value"], t["limit"]] for t in r["targets"]],
            left=2,
        )
