"""Rewrite the generated blocks of README.md and docs/*.md from the committed results, and dvc.yaml's artifacts.

    python docs/generate.py            # rewrite every block from reports/, benchmarks/, tests/kernel_bits.json
    python docs/generate.py --check    # change nothing; exit 1 naming each block that differs

A block is the text between `<!-- generated: NAME -->` and `<!-- end: NAME -->`. BLOCKS maps
each NAME to the function that renders it, so a page never restates a figure by hand: a new
block is one function and one BLOCKS entry; a new results column is one RESULT_COLUMNS entry
(and, from a new file, one row_inputs entry).
dvc.yaml's `artifacts:` block, every model registered by name, is rewritten too (ci/model_registry.py).
Standard library, PyYAML and the stages' TensorFlow-free table code (stages/distribution.py, which the
report renders too): fast enough for a test.
"""

import csv
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python docs/generate.py` puts docs/, not the project, on the path

from ci import model_registry  # noqa: E402
from stages import distribution, models  # noqa: E402

PAGES = ("README.md", "docs/*.md")
# Markers stand on lines of their own: one quoted inside a sentence is no marker.
BLOCK = re.compile(
    r"^(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)^(<!-- end: (?P=name) -->)$", re.DOTALL | re.MULTILINE
)
MARKER = re.compile(r"^<!-- (?:generated|end): ([\w-]+) -->$", re.MULTILINE)


def read_json(root, path):
    return json.loads((root / path).read_text())


def committed_models(root):
    """The models with committed metrics: mlp, then the LeNet variants in params.yaml's order."""
    order = models.names(yaml.safe_load((root / "params.yaml").read_text()))
    found = {p.stem for p in (root / "reports/metrics").glob("*.json")} - {"scratch_backprop"}
    return [m for m in order if m in found] + sorted(found - set(order))


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]) + "\n"


def number(value):
    """A measured figure, rounded: 4 decimals below 10, else 1 with thousands; no trailing zeros."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    text = f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return text.rstrip("0").rstrip(".")


def row_inputs(root, model):
    """Each committed file a results row may show, by name: a column from a new file adds its entry here."""
    return {
        "metrics": read_json(root, f"reports/metrics/{model}.json"),
        "hand_in": read_json(root, distribution.HAND_IN_FILE)["models"],
    }


def params_cell(model, d):
    p = d["metrics"]["params"]
    return f"{p['total']:,}" + (f" ({p['non_trainable']:,} non-trainable)" if p.get("non_trainable") else "")


def hand_in_cell(model, d):
    hand_in = d["hand_in"].get(model)
    return f"{hand_in['loss']:.3f} / {hand_in['accuracy']:.3f}" if hand_in else "beyond the assignment"


RESULT_COLUMNS = {  # header: cell(model, row_inputs(root, model))
    "model": lambda model, d: f"`{model}`",
    "test accuracy": lambda model, d: f"{d['metrics']['test']['accuracy']:.4f}",
    "test loss": lambda model, d: f"{d['metrics']['test']['loss']:.4f}",
    "params": params_cell,
    "hand-in loss / accuracy": hand_in_cell,
}


def results(root):
    rows = []
    for model in committed_models(root):
        inputs = row_inputs(root, model)
        rows.append([cell(model, inputs) for cell in RESULT_COLUMNS.values()])
    seed = yaml.safe_load((root / "params.yaml").read_text())["seed"]
    note = f"_From `reports/metrics/<model>.json`, seed {seed}; `python docs/generate.py` rewrites it._\n"
    return table(list(RESULT_COLUMNS), rows) + "\n" + note


def machine(result):
    m = result["machine"]
    return (
        f"{m['cpu_model']}, {m['usable_cpus']} usable of {m['cpu_count']} CPUs, "
        f"AVX-512 {'yes' if m.get('avx512f') else 'no'}; started {result['started']}"
    )


def benchmark(root):
    """The cold runs' figures against their targets, each stage's process, each model's fit: benchmarks/run.py's."""
    r = read_json(root, "benchmarks/results.json")
    overrides = ", ".join(f"{k}={v}" for k, v in r.get("param_overrides", {}).items()) or "none"
    runs, bare = r.get("runs", {}), (r.get("bare") or {}).get("models", {})
    par, seq = runs.get("parallel"), runs.get("sequential")
    rows = []
    if par and seq:
        rows.append(["cold `make pipeline` / cold `dvc repro`, wall", number(par["wall_s"] / seq["wall_s"]), "<= 0.75"])
        differing = ", ".join(r["figures"]["lock_differences"]) or "none"
        rows.append(["stages whose dvc.lock entries differ between the two", differing, "none"])
    if par:
        rows.append(["cores busy while `make pipeline` trains", number(par["training"]["cores"]), ">= 1.7"])
    if par and bare:
        walls = sum(m["process_wall_s"] for m in bare.values())
        rows.append(["cold `make pipeline` / the bare scripts' process walls", number(par["wall_s"] / walls), "<= 1.1"])
    if "noop_repro_s" in r.get("after_parallel", {}):
        rows.append(["no-op `dvc repro` (s, best of 3)", number(r["after_parallel"]["noop_repro_s"]), "<= 2"])
    by_run = [{s["stage"]: s for s in run["stages"]} if run else {} for run in (par, seq)]
    stages = []
    for stage in dict.fromkeys([*by_run[1], *by_run[0]]):  # the one-at-a-time order reads as the pipeline
        found = [run[stage] for run in by_run if stage in run]
        walls = [number(run[stage]["wall_s"]) if stage in run else "" for run in by_run]
        rss = number(max(s["peak_rss_mib"] for s in found))
        tensorflow = "yes" if any(s["imported_tensorflow"] for s in found) else "no"
        stages.append([f"`{stage}`", *walls, rss, tensorflow])
    fits = []
    for m, b in bare.items():
        pipeline = [run["models"].get(m, {}).get("fit_seconds") if run else None for run in (seq, par)]
        fits.append(
            [f"`{m}`", b["epochs"], number(b["fit_seconds"]), *("" if f is None else number(f) for f in pipeline)]
        )
    stage_header = ["stage", "`make pipeline` wall s", "`dvc repro` wall s", "peak RSS MiB", "imports TensorFlow"]
    return "\n".join(
        [
            f"`benchmarks/results.json`: {machine(r)}; param overrides: {overrides}.\n",
            table(["figure", "measured", "target"], rows),
            table(stage_header, stages)
            + "\n_Targets: a stage without a model imports no TensorFlow and takes under 5 s; "
            + "no stage's peak RSS above 1.5 GiB._\n",
            table(["model", "epochs", "bare Keras fit s", "`dvc repro` fit s", "`make pipeline` fit s"], fits),
        ]
    )


def two_processes(root):
    r = read_json(root, "benchmarks/two_processes.json")
    side = " + ".join(f"{v:,.0f}" for v in r["side_by_side_images_per_s"])
    return (
        f"`benchmarks/two_processes.json`: {machine(r)}. `{r['model']}`'s training, {r['training_images']:,} images, "
        f"{r['epochs']} epochs: {r['alone_images_per_s']:,.0f} images/s alone; two processes side by side "
        f"{side} = {r['combined_images_per_s']:,.0f} images/s, {r['combined_over_alone']:.2f}x one alone.\n"
    )


def sweep(root):
    with open(root / "reports/sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    best, tta = "reports/live/lenet-tuned/metrics.json:best_val_accuracy", "tta_val_accuracy"
    varied = [k for k in rows[0] if k.startswith("lenet.tuned.")] if rows else []
    rows.sort(key=lambda row: float(row[tta] or row[best]), reverse=True)
    header = ["experiment", *(k.removeprefix("lenet.tuned.") for k in varied), "best val accuracy", "with flip TTA"]
    body = [[f"`{row['Experiment']}`", *(row[k] for k in varied), row[best], row[tta]] for row in rows]
    return table(header, body) + "\n_From `reports/sweep.csv`, best first; `python docs/generate.py` rewrites it._\n"


def cpu_models(root):
    bits = read_json(root, "tests/kernel_bits.json")
    committed = bits["committed_run"]
    onednn = {cpu: record["bits"]["onednn_training"] for cpu, record in bits["machines"].items()}

    def full_run(cpu):
        run = bits["machines"][cpu].get("full_run")
        if cpu == committed:
            return "the committed run"
        if run is None:
            return "not compared"
        parts = [f"identical: {', '.join(run['identical_models'])}", f"other bits: {', '.join(run['other_bits'])}"]
        if run.get("not_compared"):  # a model whose params changed since that run
            parts.append(f"not compared: {', '.join(run['not_compared'])}")
        return "; ".join(parts)

    def probe(cpu, b):
        return "yes (the committed run's)" if cpu == committed else "yes" if b == onednn[committed] else "no"

    rows = [[f"`{cpu}`", probe(cpu, b), full_run(cpu)] for cpu, b in onednn.items()]
    header = ["CPU model", "probe's oneDNN bits are the committed run's", "a full run's models against the committed"]
    return table(header, rows) + ("\n_From `tests/kernel_bits.json`; `python docs/generate.py` rewrites it._\n")


def distributions(root):
    """Each model over the reference's seeds beside the committed run and the hand-in: the report's table."""
    summary, hand_in = distribution.load(root / distribution.REFERENCE_SUMMARY_FILE, root / distribution.HAND_IN_FILE)
    committed = {model: read_json(root, f"reports/metrics/{model}.json")["test"] for model in committed_models(root)}
    rows = distribution.rows(summary, hand_in, committed)
    note = f"\n_{distribution.source_note(summary)}; `python docs/generate.py` rewrites it._\n"
    return table(distribution.header(summary), rows) + note


def levers(root):
    r = read_json(root, "benchmarks/levers.json")
    peaks = ", ".join(f"{isa} {number(g)}" for isa, g in r["peak_gflops_one_thread"].items())
    rows = [
        [s["threads"], s["cpu_isa"], s["batch_size"] or "as params", number(s["images_per_s"]), number(s["gflops"]),
         f"{s['share_of_peak']:.0%}"]
        for s in r["settings"]
    ]  # fmt: skip
    return (
        f"`benchmarks/levers.json`: `{r['model']}` on {r['samples']:,} images, {r['cpu_model']}, {r['cpus']} CPUs; "
        f"one thread's peak {peaks} GFLOP/s.\n\n"
        + table(["threads", "cpu_isa", "batch", "images/s", "GFLOP/s", "share of the threads' peak"], rows)
    )


BLOCKS = {
    "results": results,
    "levers": levers,
    "distributions": distributions,
    "cpu-models": cpu_models,
    "benchmark": benchmark,
    "two-processes": two_processes,
    "sweep": sweep,
}


def pages(root):
    return sorted(path for pattern in PAGES for path in root.glob(pattern))


def regenerate(text, rendered):
    """`text` with every block rewritten; an unknown, unclosed or stray marker is an error."""
    names = [m.group("name") for m in BLOCK.finditer(text)]
    markers = MARKER.findall(text)
    if len(markers) != 2 * len(names) or any(name not in rendered for name in names):
        raise ValueError(f"generated-block markers do not pair up with known blocks: {markers}")
    return BLOCK.sub(lambda m: m.group(1) + "\n" + rendered[m.group("name")] + "\n" + m.group(4), text)


def stale(root=ROOT, write=False):
    """(page, block names) for each page whose blocks differ from the committed files; rewrite them if `write`."""
    rendered = {name: render(root) for name, render in BLOCKS.items()}
    differing = []
    for path in pages(root):
        text = path.read_text()
        new = regenerate(text, rendered)
        if new != text:
            old = {m.group("name"): m.group("body") for m in BLOCK.finditer(text)}
            names = [m.group("name") for m in BLOCK.finditer(new) if old.get(m.group("name")) != m.group("body")]
            differing.append((path.relative_to(root).as_posix(), names))
            if write:
                path.write_text(new)
    if model_registry.stale(root, write):  # the models registered by name, from params.yaml
        differing.append((model_registry.PIPELINE, ["artifacts"]))
    return differing


def main(argv):
    check = argv == ["--check"]
    if argv and not check:
        sys.exit(__doc__)
    differing = stale(write=not check)
    for page, names in differing:
        print(f"{page}: {', '.join(names)} {'differ from the committed files' if check else 'rewritten'}")
    sys.exit(1 if check and differing else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
