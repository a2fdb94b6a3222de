"""The pipeline on the quick params, in a throwaway worktree of one commit: the hash of every output it writes.

    python -m ci.quick_run [REV] > outputs.json     # REV: a commit, HEAD unless given

The first half of a change that must keep the numbers (docs/development.md#a-change-that-keeps-the-numbers):
run it on the commit before the change and on the change, on one machine; the two files must be equal.
The quick params are the integration tests' (small subsets, one or two epochs): minutes, not the full run.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ci.overrides import quick_params, set_params

ROOT = Path(__file__).resolve().parents[1]


def output_hashes(lock):
    """{stage: {output: md5}} of a dvc.lock's data."""
    stages = lock["stages"]
    return {stage: {out["path"]: out["md5"] for out in entry.get("outs", [])} for stage, entry in stages.items()}


def run(rev, work):
    """Check out `rev` in `work`, forget its lock, reproduce everything on the quick params; the output hashes."""
    git = ["git", "-C", str(ROOT)]
    subprocess.run([*git, "worktree", "add", "--quiet", "--detach", str(work), rev], check=True, timeout=300)
    try:
        (work / "dvc.lock").unlink()  # nothing counts as done: every stage runs
        set_params(work / "params.yaml", quick_params(yaml.safe_load((work / "params.yaml").read_text())))
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        done = subprocess.run(["dvc", "repro"], cwd=work, env=env, capture_output=True, text=True, timeout=7200)
        if done.returncode != 0:
            sys.exit(f"error: dvc repro of {rev} on the quick params failed:\n{(done.stdout + done.stderr)[-3000:]}")
        return output_hashes(yaml.safe_load((work / "dvc.lock").read_text()))
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(work)], check=True, timeout=300)


def main(argv):
    if len(argv) > 1:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory(prefix="quick-run-") as tmp:
        hashes = run(argv[0] if argv else "HEAD", Path(tmp) / "tree")
    print(json.dumps(hashes, indent=2, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
