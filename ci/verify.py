"""Did this run reproduce the committed one? A verdict per line, not a diff (`make verify`).

    python -m ci.verify [--rev HEAD]

One line for the data and Part 1 (download, preprocess, scratch_backprop, plot_samples), then one per
model (its training and evaluation). Each line's stages include those upstream of them, and one rule,
in this order, gives its verdict:
  not reproduced  a stage is out of date (`dvc status`) or has never run here: run make repro;
  not judged      the params those stages read (as dvc.lock records them) differ from the committed
                  run's: an experiment; the differing keys are named. A model is not judged either
                  when the reference lacks it or was made with other params;
  identical       the line's outputs have the hashes the committed dvc.lock records;
  within          a model with other bits whose test accuracy and loss both lie inside the reference's
                  prediction intervals, each at the level that keeps the whole run's false alarms at
                  FALSE_ALARM_RATE (Bonferroni over the figures judged);
  OUTSIDE         anything else: a portable output with other bits (they must be identical under the
                  cpu_isa pin), or a model's figure outside its interval.

Exit status: 1 when anything is OUTSIDE; else 2 when nothing has been reproduced yet (every line says
run make repro), or when there is nothing to judge against (no committed dvc.lock, a damaged reference
summary); else 0, experiments included. `make verify` turns any non-zero status into make's own 2
(docs/reproducibility.md).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

from stages import kernels, models, params
from stages.common import METRICS_DIR, REFERENCE_SUMMARY_FILE, StageError, model_outputs
from stages.reference_format import as_compared, load_summary, prediction_interval

PORTABLE = "data and Part 1"
PORTABLE_STAGES = ("download", "preprocess", "scratch_backprop", "plot_samples")
IDENTICAL, WITHIN, OUTSIDE = "identical", "within", "OUTSIDE"
NOT_JUDGED, NOT_REPRODUCED = "not judged", "not reproduced"
METRICS = ("accuracy", "loss")
# The chance that a healthy run of every model shows a false OUTSIDE somewhere, at most.
FALSE_ALARM_RATE = 0.01


class CannotJudge(StageError):
    """Nothing to judge against: exit status 2, not 1, which means OUTSIDE."""


# --- what dvc.lock records ----------------------------------------------------------------------


def outs(lock, stage):
    """{path: hash} of a stage's outputs in a parsed dvc.lock (None when the stage is not there)."""
    entry = lock.get("stages", {}).get(stage)
    return None if entry is None else {o["path"]: o.get("md5") for o in entry.get("outs", [])}


def differing_outputs(committed, current, stages):
    """The output paths whose hashes differ (a stage missing from either lock counts as all of its outputs)."""
    differ = set()
    for stage in stages:
        was, now = outs(committed, stage), outs(current, stage)
        if was is None or now is None:
            differ |= set(was or {}) | set(now or {}) | {stage}
        else:
            differ |= {path for path in was.keys() | now.keys() if was.get(path) != now.get(path)}
    return differ


def _covers(a, b):
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def upstream(stages, *locks):
    """The stages, and every stage whose outputs they read, transitively (from the deps and outs dvc.lock records)."""
    entries = {}
    for lock in locks:
        for name, entry in lock.get("stages", {}).items():
            entries.setdefault(name, entry)
    found, todo = set(), list(stages)
    while todo:
        stage = todo.pop()
        if stage in found:
            continue
        found.add(stage)
        deps = [d["path"] for d in entries.get(stage, {}).get("deps", [])]
        todo += [
            other
            for other, entry in entries.items()
            if other not in found and any(_covers(d, o["path"]) for d in deps for o in entry.get("outs", []))
        ]
    return found


def read_params(lock, stages):
    """{key: value} of the params the stages read, as dvc.lock records them (None: a stage is not there)."""
    read = {}
    for stage in stages:
        entry = lock.get("stages", {}).get(stage)
        if entry is None:
            return None
        for values in entry.get("params", {}).values():
            read.update(values)
    return read


def differing_keys(was, now, prefix=""):
    """The dotted keys whose values differ; a key absent from one side equals null on the other (an optional
    key left out is at its default, as a section's `.record()` leaves it out)."""
    if isinstance(was, dict) and isinstance(now, dict):
        return [
            key
            for name in sorted(was.keys() | now.keys(), key=str)
            for key in differing_keys(was.get(name), now.get(name), f"{prefix}{name}.")
        ]
    return [] if was == now else [prefix.removesuffix(".")]


# --- the verdict ----------------------------------------------------------------------------------


def per_figure_level(figures):
    """The confidence of each figure's interval so that `figures` intervals together miss at most
    FALSE_ALARM_RATE of healthy runs (Bonferroni: the chances of a false alarm add up at most)."""
    return 1 - FALSE_ALARM_RATE / figures


def judge_model(stats, committed_metrics, metrics, level):
    """(verdict, detail) for a model with other bits, against the reference's intervals at `level`."""
    inside, parts = True, []
    for metric in METRICS:
        value, figures = metrics["test"][metric], stats[f"test_{metric}"]
        low, high = prediction_interval(figures["mean"], figures["std"], stats["n"], level)
        inside &= low <= value <= high
        was = committed_metrics["test"][metric] if committed_metrics else "none"
        parts.append(f"test {metric} {value} (committed {was}, interval {low:.4f} to {high:.4f})")
    return (WITHIN if inside else OUTSIDE), "; ".join(parts)


def reference_differs(model, stats, summary, raw_params):
    """The params keys that differ from those the reference was made with, as `.record()` gives them."""
    split = {"seed": raw_params.get("seed"), "data": raw_params.get("data")}
    key = models.params_key(model)
    current = params.check(raw_params, key).record()
    reference = as_compared(stats["params"])
    return differing_keys(summary["split"], split) + differing_keys(reference, as_compared(current), f"{key}.")


def line_state(name, stages, committed, current, stale):
    """(verdict, detail) when the rule decides a line before its outputs are compared, else None."""
    involved = upstream(stages, current, committed)
    out_of_date = sorted(s for s in involved if s in stale or s not in current.get("stages", {}))
    if out_of_date:
        return NOT_REPRODUCED, f"run make repro ({', '.join(out_of_date)}: out of date or never run here)"
    was, now = read_params(committed, involved), read_params(current, involved)
    if was is None:
        return NOT_JUDGED, f"an experiment: {name} is not in the committed run"
    changed = differing_keys(was, now)
    if changed:
        return NOT_JUDGED, f"an experiment: params differ from the committed run's ({', '.join(changed)})"
    return None


def verdicts(committed_lock, current_lock, summary, raw_params, read_metrics, stale=()):
    """([(name, verdict, detail)], the number of figures judged against the reference): the data and Part 1,
    then each model params.yaml defines."""
    lines = {}
    decided = line_state(PORTABLE, PORTABLE_STAGES, committed_lock, current_lock, stale)
    if decided is None:
        differ = [s for s in PORTABLE_STAGES if differing_outputs(committed_lock, current_lock, [s])]
        decided = (
            (OUTSIDE, f"must be identical under the cpu_isa pin; differ: {', '.join(differ)}")
            if differ
            else (IDENTICAL, ", ".join(PORTABLE_STAGES))
        )
    lines[PORTABLE] = decided
    to_judge = {}
    for model in models.names(raw_params):
        stages = list(models.stages(model).values())
        decided = line_state(model, stages, committed_lock, current_lock, stale)
        if decided is not None:
            lines[model] = decided
            continue
        committed_metrics, metrics = read_metrics(model)
        differ = differing_outputs(committed_lock, current_lock, stages)
        if not differ:
            lines[model] = IDENTICAL, f"test accuracy {metrics['test']['accuracy']}, as committed"
        elif differ == {model_outputs(model)["record"].as_posix()}:
            # The model and every result are the committed bytes; its record names this machine's CPU model.
            detail = f"test accuracy {metrics['test']['accuracy']}, as committed; the training record names this CPU"
            lines[model] = IDENTICAL, detail
        elif (stats := summary["models"].get(model)) is None:
            lines[model] = NOT_JUDGED, "the reference holds no such model: make reference"
        elif changed := reference_differs(model, stats, summary, raw_params):
            lines[model] = NOT_JUDGED, f"the reference was made with other params ({', '.join(changed)})"
        else:
            lines[model] = None
            to_judge[model] = stats, committed_metrics, metrics
    figures = len(METRICS) * len(to_judge)
    for model, (stats, committed_metrics, metrics) in to_judge.items():
        lines[model] = judge_model(stats, committed_metrics, metrics, per_figure_level(figures))
    return [(name, *line) for name, line in lines.items()], figures


def exit_status(lines):
    """1 on any OUTSIDE; else 2 when nothing has been reproduced yet; else 0."""
    if any(verdict == OUTSIDE for _, verdict, _ in lines):
        return 1
    return 2 if all(verdict == NOT_REPRODUCED for _, verdict, _ in lines) else 0


def bits_line(models_that_differ, summary):
    """Why the bits differ, from the training records: what this run's were decided by, against the reference's."""
    deciders = set()
    for model in models_that_differ:
        record = model_outputs(model)["record"] / "training.json"
        try:
            bits = json.loads(record.read_text())["bits_decided_by"]
        except (OSError, ValueError, KeyError):
            continue
        packages = ", ".join(f"{k} {v}" for k, v in bits["packages"].items())
        threads = f"{bits['intra_op_threads']} intra-op thread(s)"
        deciders.add(f"{bits['cpu_model']}, cpu_isa {bits['cpu_isa']}, {threads}, {packages}")
    if not deciders:
        return None
    made_on = ", ".join(summary["cpu_models"]) or "unknown"
    return (
        f"Bits differ from the committed run's for {', '.join(models_that_differ)}: this run's were decided by "
        f"{'; '.join(sorted(deciders))}. oneDNN's bits follow the CPU model (this one: {kernels.cpu_model()}); "
        f"the reference ran on {made_on}."
    )


def git_show(rev, path):
    result = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, timeout=60)
    return result.stdout if result.returncode == 0 else None


def stale_stages():
    result = subprocess.run(["dvc", "status", "--json", "dvc.yaml"], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise CannotJudge(f"dvc status failed: {result.stderr.strip().splitlines()[-1:]}")
    return set(json.loads(result.stdout or "{}"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the committed run to compare with (a git revision)")
    rev = parser.parse_args().rev
    committed_text = git_show(rev, "dvc.lock")
    if committed_text is None:
        raise CannotJudge(f"no dvc.lock at {rev}: nothing committed to compare with")
    try:
        current_lock = yaml.safe_load(Path("dvc.lock").read_text())
    except OSError:
        current_lock = {}  # no run here yet: every line says so
    try:
        summary = load_summary().model_dump()
    except StageError as error:
        raise CannotJudge(str(error)) from None

    def read_metrics(model):
        path = METRICS_DIR / f"{model}.json"
        committed = git_show(rev, path.as_posix())
        try:
            return (json.loads(committed) if committed else None), json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise CannotJudge(f"{path}: cannot read this run's metrics ({error})") from None

    committed_lock = yaml.safe_load(committed_text)
    lines, figures = verdicts(committed_lock, current_lock, summary, params.load(), read_metrics, stale_stages())
    n = {model: stats["n"] for model, stats in summary["models"].items()}
    print(f"Reproduction verdict against {rev} and the reference ({REFERENCE_SUMMARY_FILE}, seeds per model: {n}):")
    name_width, verdict_width = (max(len(line[i]) for line in lines) for i in (0, 1))
    for name, verdict, detail in lines:
        print(f"  {name:<{name_width}}  {verdict:<{verdict_width}}  {detail}")
    if figures:
        print(
            f"Each interval is a {per_figure_level(figures):.2%} prediction interval: together the {figures} "
            f"figures judged show a false OUTSIDE in at most {FALSE_ALARM_RATE:.0%} of healthy runs."
        )
    differ = [name for name, verdict, _ in lines if verdict in (WITHIN, OUTSIDE) and name != PORTABLE]
    reason = bits_line(differ, summary) if differ else None
    if reason:
        print(reason)
    return exit_status(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CannotJudge as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
