"""Record the current hashes of the code files a dvc.lock lists as dependencies, and nothing else.

    python ci/relock_code.py [dvc.lock ...]

For a code change that cannot alter any output (a log line, a comment, a refactoring), on a
machine that cannot reproduce the committed outputs' bits (another CPU model: README,
Reproducibility). `dvc commit` would do the same but needs every cached output in the
workspace. Check first that the change keeps the bytes: `dvc repro --force` of the stages
it touches, on any one machine, before and after the change, must give the same outputs.
Only `*.py` dependencies are rewritten; params, data and outputs keep their recorded hashes.
"""

import hashlib
import re
import sys
from pathlib import Path

ENTRY = re.compile(r"^(\s*)- path: (\S+\.py)\n\1  hash: md5\n\1  md5: [0-9a-f]{32}\n\1  size: \d+\n", re.MULTILINE)


def relock(text, root):
    changed = []

    def fresh(match):
        indent, path = match.group(1), match.group(2)
        data = (root / path).read_bytes()
        entry = f"{indent}- path: {path}\n{indent}  hash: md5\n{indent}  md5: {hashlib.md5(data).hexdigest()}\n"
        entry += f"{indent}  size: {len(data)}\n"
        if entry != match.group(0):
            changed.append(path)
        return entry

    return ENTRY.sub(fresh, text), sorted(set(changed))


def main(paths):
    for lock in map(Path, paths or ["dvc.lock"]):
        text, changed = relock(lock.read_text(), lock.parent)
        lock.write_text(text)
        print(f"{lock}: {', '.join(changed) or 'no code file changed'}")


if __name__ == "__main__":
    main(sys.argv[1:])
