"""Re-record the code dependencies of every stage a dvc.lock holds, as dvc.yaml lists them now, and nothing else.

    python -m ci.relock_code [PROJECT ...]    # default: the pipeline (.) and the reference study (reference)

For a change that cannot alter any output (a comment, a refactoring, a moved file) when this
machine cannot reproduce the committed outputs' bits: `dvc commit` would do the same but needs
every cached output in the workspace. docs/development.md#a-change-that-keeps-the-numbers gives
the procedure that shows first that the change keeps the bytes.
A locked stage's `*.py` deps become exactly its dvc.yaml deps that end in `.py`, hashed as the
files are now (so a moved or new file is followed); its other deps, params, outs and cmd keep their
recorded values. Paths are relative to the stage's wdir, as DVC records them.
"""

import hashlib
import sys
from pathlib import Path

from dvc.repo import Repo
from dvc.utils.serialize import dumps_yaml, load_yaml


def code_files(project):
    """{stage: {path as locked: file}}: each stage's `*.py` deps in dvc.yaml, foreach and matrix resolved."""
    with Repo(str(project)) as repo:
        return {
            stage.name: {dep.def_path: Path(dep.fs_path) for dep in stage.deps if dep.def_path.endswith(".py")}
            for stage in repo.index.stages
        }


def entry(path, file):
    """A file dep as DVC 3 writes it to dvc.lock: the md5 of its bytes and its size."""
    try:
        data = file.read_bytes()
    except OSError as error:
        sys.exit(f"error: {path}: {error.strerror} (a code dep in dvc.yaml)")
    return {"path": path, "hash": "md5", "md5": hashlib.md5(data).hexdigest(), "size": len(data)}


def relock(lock, current, name="dvc.lock"):
    """Rewrite `lock` (dvc.lock's data) in place from `current` (code_files); return {stage: [changed paths]}."""
    changed = {}
    for stage, record in lock["stages"].items():
        if stage not in current:
            sys.exit(f"error: {name}: stage {stage} is not in dvc.yaml (remove its entry or restore the stage)")
        deps = record.get("deps", [])
        old = {d["path"]: d for d in deps if d["path"].endswith(".py")}
        new = {path: entry(path, file) for path, file in current[stage].items()}
        # DVC lists a stage's deps sorted by path.
        record["deps"] = sorted([d for d in deps if not d["path"].endswith(".py")] + list(new.values()), key=path_of)
        if paths := sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p)):
            changed[stage] = paths
    return changed


def path_of(dep):
    return dep["path"]


def main(projects):
    for project in map(Path, projects or [".", "reference"]):
        lock_path = project / "dvc.lock"
        if not lock_path.exists():
            print(f"{lock_path}: none (nothing locked yet)")
            continue
        lock = load_yaml(lock_path)
        changed = relock(lock, code_files(project), lock_path.as_posix())
        # Written whole or not at all: an error above leaves the lock as it was.
        partial = lock_path.with_name(".dvc.lock.relock")
        partial.write_text(dumps_yaml(lock))
        partial.replace(lock_path)
        files = sorted({path for paths in changed.values() for path in paths})
        print(f"{lock_path}: {len(changed)} stage(s) re-recorded; {', '.join(files) or 'no code file changed'}")


if __name__ == "__main__":
    main(sys.argv[1:])
