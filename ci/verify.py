"""Did this run reproduce the committed one? A verdict per model, not a diff (`make verify`).

    python -m ci.verify [--rev HEAD]

Per model, one of:
  identical   its training and evaluation outputs have the hashes the committed dvc.lock records;
  within      other bits, but test accuracy and loss inside the reference distribution's interval
              (reference/summary.json: mean +- t * s * sqrt(1 + 1/n) at `reference.confidence`);
  OUTSIDE     other bits, and accuracy or loss outside it;
and no verdict when the model's params (or the split's: `seed`, `data`) differ from those the
reference was made with, an experiment, or when the reference holds no such model.
Part 1, the prepared data and the sample figures are portable under the `cpu_isa` pin:
anything but identical there is OUTSIDE. When bits differ, a line says what decided them.

Exit status: 0, or 1 when anything is OUTSIDE; 2 when there is nothing to judge against
(no dvc.lock, a missing or damaged reference file). `make verify` fails on either (make's status 2).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

from stages import kernels, models, params
from stages.common import METRICS_DIR, REFERENCE_SUMMARY_FILE, StageError, model_outputs
from stages.reference_format import load_summary

PORTABLE_STAGES = ("download", "preprocess", "scratch_backprop", "plot_samples")
IDENTICAL, WITHIN, OUTSIDE, NOT_JUDGED = "identical", "within", "OUTSIDE", "not judged"
METRICS = ("accuracy", "loss")


class CannotJudge(StageError):
    """Nothing to judge against: exit status 2, not 1, which means OUTSIDE."""


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


def same_outputs(committed, current, stages):
    return not differing_outputs(committed, current, stages)


def judge_model(model, stats, committed_metrics, metrics, changed):
    """(verdict, detail) for a model whose bits differ from the committed run's."""
    if stats is None:
        return NOT_JUDGED, "the reference holds no such model"
    if changed:
        return NOT_JUDGED, f"params differ from the reference's ({', '.join(changed)}): an experiment"
    inside, parts = True, []
    for metric in METRICS:
        value = metrics["test"][metric]
        low, high = stats[f"test_{metric}"]["interval"]
        inside &= low <= value <= high
        was = committed_metrics["test"][metric] if committed_metrics else "none"
        parts.append(f"test {metric} {value} (committed {was}, interval {low:.4f} to {high:.4f})")
    return (WITHIN if inside else OUTSIDE), "; ".join(parts)


def changed_params(model, stats, summary, raw_params):
    """The params keys that differ from those the reference was made with."""
    changed = []
    if raw_params.get("seed") != summary["split"]["seed"]:
        changed.append("seed")
    if raw_params.get("data") != summary["split"]["data"]:
        changed.append("data")
    if stats is not None:
        current = params.check(raw_params, models.params_key(model)).model_dump()
        changed += [f"{models.params_key(model)}.{k}" for k in current if current[k] != stats["params"].get(k)]
    return changed


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


def verdicts(committed_lock, current_lock, summary, raw_params, read_metrics, stale=()):
    """[(name, verdict, detail)]: the portable stages as one line, then each model params.yaml defines."""
    lines = []
    portable = [s for s in PORTABLE_STAGES if s not in stale and same_outputs(committed_lock, current_lock, [s])]
    differ = [s for s in PORTABLE_STAGES if s not in portable]
    lines.append(
        ("data and Part 1", OUTSIDE, f"must be identical under the cpu_isa pin; differ: {', '.join(differ)}")
        if differ
        else ("data and Part 1", IDENTICAL, ", ".join(PORTABLE_STAGES))
    )
    for model in models.names(raw_params):
        stages = list(models.stages(model).values())
        if any(s in stale for s in stages):
            lines.append((model, NOT_JUDGED, "not reproduced: dvc status says it is out of date; run make repro"))
            continue
        committed_metrics, metrics = read_metrics(model)
        differ = differing_outputs(committed_lock, current_lock, stages)
        if not differ:
            lines.append((model, IDENTICAL, f"test accuracy {metrics['test']['accuracy']}, as committed"))
            continue
        if differ == {model_outputs(model)["record"].as_posix()}:
            # The model and every result are the committed bytes; its record names this machine's CPU model.
            detail = f"test accuracy {metrics['test']['accuracy']}, as committed; the training record names this CPU"
            lines.append((model, IDENTICAL, detail))
            continue
        stats = summary["models"].get(model)
        changed = changed_params(model, stats, summary, raw_params)
        lines.append((model, *judge_model(model, stats, committed_metrics, metrics, changed)))
    return lines


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
        raise CannotJudge("dvc.lock: no run here yet; run make repro first") from None
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

    lines = verdicts(yaml.safe_load(committed_text), current_lock, summary, params.load(), read_metrics, stale_stages())
    n = {model: stats["n"] for model, stats in summary["models"].items()}
    print(f"Reproduction verdict against {rev} and the reference ({REFERENCE_SUMMARY_FILE}, seeds per model: {n}):")
    width = max(len(name) for name, _, _ in lines)
    for name, verdict, detail in lines:
        print(f"  {name:<{width}}  {verdict:<10}  {detail}")
    differ = [name for name, verdict, _ in lines if verdict in (WITHIN, OUTSIDE) and name != "data and Part 1"]
    reason = bits_line(differ, summary) if differ else None
    if reason:
        print(reason)
    return 1 if any(verdict == OUTSIDE for _, verdict, _ in lines) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CannotJudge as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
