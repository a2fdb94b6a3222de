"""A study's runs fanned out over machines, and collected back, through git and the team's DVC remote.

    python -m ci.study job reference --share 2/3 [--jobs N]         # share 2 of 3 of the runs, in a fresh clone
    python -m ci.study job reference --stages run_mlp@43 [...]      # or these runs
    python -m ci.study collect reference [--shares 3] [--commit]     # every share's records, then the summary

A study is a DVC project of its own in a directory of this repository (reference/): its `run_*`
stages are the runs, its `summary` stage sums up whatever runs have arrived. An engine starts one
job per share, each in a fresh clone of one commit (.github/workflows/study.yml, ci/study.sbatch;
docs/sharing.md).

A job pulls the runs' inputs (the pipeline's `preprocess` outputs) from the team's DVC remote, runs
its share, and commits what it made, a small git-tracked record a run and the study's dvc.lock, on
the branch `study/<study>/share-<i>-of-<n>`, which it pushes to `origin` whatever failed. Run again,
it first takes back what that branch holds, so that only what failed runs again. The collector
takes every share's records and their dvc.lock entries from those branches (only branches made on
the commit it stands on: same code, data and params), lets `dvc status` confirm that each entry
matches this commit's inputs, and runs the summary; it trains nothing, and names any run no share
has delivered with the share to run again.

Why git and not DVC's run-cache: DVC 3.67 keeps no run-cache entry for a stage whose outputs are
`cache: false`, cannot restore one whose wdir lies outside its project (these run from the root),
and `dvc push --run-cache` does not send the files of `cache: false` metrics.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from stages.common import StageError, run

RUN_PREFIX = "run_"
SUMMARY_STAGE = "summary"
INPUT_STAGE = "preprocess"  # the pipeline's stage whose outputs (data/prepared) every run reads
BRANCH_PREFIX = "study"
TIMEOUT = 24 * 3600  # a run takes hours at most; an engine's own time limit is the real one
# A fresh clone (a CI runner, a cluster node) may have no git identity: commits then carry this one.
IDENTITY = ("-c", "user.name=study job", "-c", "user.email=study-job@localhost")


def dvc(*args, cwd=".", check=True, echo=False):
    """`dvc <args>` in `cwd`; printed too when `echo` (a run's progress belongs in the job's log)."""
    result = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    if echo:
        print(result.stdout, end="", flush=True)
        print(result.stderr, end="", file=sys.stderr, flush=True)
    if check and result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise StageError(f"dvc {' '.join(args)} (in {cwd}) failed: {last}")
    return result


def identity():
    """`git -c` options naming a committer when git has none configured."""
    return () if git("config", "user.email", check=False).stdout.strip() else IDENTITY


def git(*args, check=True):
    result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise StageError(f"git {' '.join(args)} failed: {' '.join(result.stderr.strip().splitlines()[-1:])}")
    return result


# --- which runs a job makes ---------------------------------------------------


def seed_order(name):
    """Runs by seed (the number a matrix stage's name ends with), then by name."""
    match = re.search(r"(\d+)$", name)
    return (int(match.group(1)) if match else -1, name)


def runs(study):
    names = dvc("stage", "list", "--name-only", cwd=study).stdout.split()
    found = sorted((name for name in names if name.startswith(RUN_PREFIX)), key=seed_order)
    if not found:
        raise StageError(f"{study}/dvc.yaml: no {RUN_PREFIX}* stage: not a study")
    return found


def parse_share(text):
    """'2/3' -> (2, 3): share 2 of 3, counted from 1 as SLURM's array indices and a matrix list are."""
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"{text}: expected INDEX/COUNT with 1 <= INDEX <= COUNT, such as 2/3")
    return int(match.group(1)), int(match.group(2))


def share(names, index, count):
    """Share `index` of `count`: every count-th run from the index-th, in seed order, so that each
    share holds as many runs of each model and a study cut off has every model's first seeds."""
    return names[index - 1 :: count]


def share_of(name, names, count):
    return names.index(name) % count + 1


def branch_name(study, chosen, share_arg):
    if share_arg:
        return f"{BRANCH_PREFIX}/{study}/share-{share_arg[0]}-of-{share_arg[1]}"
    return f"{BRANCH_PREFIX}/{study}/stages-{hashlib.sha1(' '.join(chosen).encode()).hexdigest()[:8]}"


# --- records on git branches ------------------------------------------------------


def read_lock(text):
    return (yaml.safe_load(text) or {}).get("stages", {}) if text else {}


def show(rev, path):
    result = git("show", f"{rev}:{path}", check=False)
    return result.stdout if result.returncode == 0 else None


def made_here(rev):
    """True when `rev` is a job's commit on top of the commit checked out here (same code, data, params)."""
    return git("rev-parse", f"{rev}^", check=False).stdout.strip() == git("rev-parse", "HEAD").stdout.strip()


def new_entries(study, rev):
    """{run stage: its dvc.lock entry} for the runs `rev` made that HEAD's lock does not hold as they are."""
    lock = f"{study}/dvc.lock"
    theirs, ours = read_lock(show(rev, lock)), read_lock(show("HEAD", lock))
    return {name: entry for name, entry in theirs.items() if name.startswith(RUN_PREFIX) and entry != ours.get(name)}


def adopt(study, revs):
    """Take the runs the job commits `revs` made: their records, then their dvc.lock entries. Returns their names."""
    entries = {}
    for rev in revs:
        for name, entry in new_entries(study, rev).items():
            if name in entries and entries[name][1] != entry:
                raise StageError(f"{name}: {entries[name][0]} and {rev} recorded different results")
            entries[name] = (rev, entry)
    for rev, entry in entries.values():
        for out in entry.get("outs", []):
            git("checkout", rev, "--", out["path"])  # wdir is the project root: paths are from there
    if entries:
        from dvc.utils.serialize import modify_yaml

        with modify_yaml(f"{study}/dvc.lock") as lock:
            lock.setdefault("schema", "2.0")
            lock.setdefault("stages", {}).update({name: entry for name, (_, entry) in entries.items()})
    return sorted(entries, key=seed_order)


def job_branches(study):
    """The study's job branches on origin that were made on this commit."""
    git("fetch", "-q", "origin", f"+refs/heads/{BRANCH_PREFIX}/{study}/*:refs/remotes/origin/{BRANCH_PREFIX}/{study}/*")
    refs = git("for-each-ref", "--format=%(refname)", f"refs/remotes/origin/{BRANCH_PREFIX}/{study}/").stdout.split()
    return [ref for ref in refs if made_here(ref)]


def push_records(study, branch):
    """Commit the study's records on top of HEAD as `branch`, and push it to origin (replacing an earlier try)."""
    git("add", "-A", "--", study)
    tree = git("write-tree").stdout.strip()
    commit = git(*identity(), "commit-tree", tree, "-p", "HEAD", "-m", f"{study}: records of {branch}").stdout.strip()
    git("push", "-q", "--force", "origin", f"{commit}:refs/heads/{branch}")
    git("reset", "-q")
    print(f"records pushed to origin's branch {branch}", flush=True)


# --- the two commands -----------------------------------------------------------


def prepare():
    """The runs' inputs, from the remote (made here only if the remote lacks them)."""
    dvc("repro", "--pull", INPUT_STAGE, echo=True)


def reproduce(study, name):
    """Run one run, unless it is up to date; True when it succeeded. --wait-for-lock: runs share a repo lock."""
    result = dvc("--wait-for-lock", "repro", "--single-item", name, cwd=study, check=False, echo=True)
    return result.returncode == 0


def job(study, names, jobs, branch):
    prepare()
    ref = f"refs/remotes/origin/{branch}"
    if git("fetch", "-q", "origin", f"+refs/heads/{branch}:{ref}", check=False).returncode == 0 and made_here(ref):
        taken = adopt(study, [ref])
        print(f"taken from an earlier try ({branch}): {' '.join(taken) or 'nothing'}", flush=True)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            succeeded = dict(zip(names, pool.map(lambda name: reproduce(study, name), names), strict=True))
    finally:
        push_records(study, branch)  # what did finish is the team's, whatever else failed
    failed = [name for name, ok in succeeded.items() if not ok]
    if failed:
        raise StageError(f"{len(failed)} of {len(names)} runs failed: {' '.join(failed)}; run this job again")
    print(f"{len(names)} runs made, or up to date, and pushed")


def stale(study, names):
    """The runs whose record is missing or does not match this commit's inputs, as `dvc status` judges."""
    return set(json.loads(dvc("status", "--json", *names, cwd=study).stdout or "{}"))


def collect(study, count, commit):
    prepare()
    names = runs(study)
    taken = adopt(study, job_branches(study))
    print(f"{len(taken)} runs taken from the job branches: {' '.join(taken)}", flush=True)
    missing = [name for name in names if name in stale(study, names)]
    if missing:
        shares = sorted({f"{share_of(name, names, count)}/{count}" for name in missing}) if count else []
        raise StageError(
            f"{len(missing)} of {len(names)} runs have no record made on this commit: {' '.join(missing)}; "
            + (f"run share {' and '.join(shares)} again" if shares else "run a job with --stages for them")
        )
    dvc("repro", "--single-item", SUMMARY_STAGE, cwd=study, echo=True)
    if commit:
        git("add", "-A", "--", study)
        if git("diff", "--cached", "--quiet", check=False).returncode != 0:
            git(*identity(), "commit", "-q", "-m", f"{study}: {len(taken)} runs collected from the job branches")
            print(f"committed {study}'s records and summary")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    job_parser = commands.add_parser("job", help="run one share of a study's runs and push their records")
    job_parser.add_argument("study", help="the study's directory, such as reference")
    which = job_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--share", type=parse_share, help="INDEX/COUNT: share INDEX of COUNT, such as 2/3")
    which.add_argument("--stages", nargs="+", metavar="STAGE", help="these run stages")
    job_parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="runs at once")
    collect_parser = commands.add_parser("collect", help="take every share's records and write the summary")
    collect_parser.add_argument("study", help="the study's directory, such as reference")
    collect_parser.add_argument("--shares", type=int, help="how many shares the jobs ran: names a missing run's")
    collect_parser.add_argument("--commit", action="store_true", help="commit the records and the summary")
    args = parser.parse_args()

    if not (Path(args.study) / "dvc.yaml").is_file():
        raise StageError(f"{args.study}/dvc.yaml: not found: a study is a DVC project such as reference")
    if args.command == "collect":
        collect(args.study, args.shares, args.commit)
        return
    names = runs(args.study)
    if args.stages:
        unknown = sorted(set(args.stages) - set(names))
        if unknown:
            raise StageError(f"{args.study}/dvc.yaml: no run stage {' '.join(unknown)}")
        chosen = [name for name in names if name in args.stages]
    else:
        chosen = share(names, *args.share)
    print(f"{len(chosen)} of {len(names)} runs: {' '.join(chosen)}", flush=True)
    job(args.study, chosen, args.jobs, branch_name(args.study, chosen, args.share))


if __name__ == "__main__":
    run(main)
