"""ci/relock_code.py on a two-project toy repository: a code file moves, the re-lock follows it, DVC agrees."""

import subprocess
from contextlib import chdir

import pytest
import yaml
from dvc.repo import Repo

from ci import relock_code

PIPELINE = {"stages": {"copy": {"cmd": "cp data.txt out.txt", "deps": ["code/a.py", "data.txt"], "outs": ["out.txt"]}}}
# As reference/dvc.yaml: a subdirectory project whose stages run from the root (wdir ..), one per item.
SUBPROJECT = {
    "stages": {
        "run": {
            "foreach": [1, 2],
            "do": {
                "wdir": "..",
                "cmd": "cp data.txt sub/out-${item}.txt",
                "deps": ["code/a.py", "data.txt"],
                "outs": [{"sub/out-${item}.txt": {"cache": False}}],
            },
        }
    }
}


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, timeout=60)


@pytest.fixture
def toy(tmp_path):
    """Both projects reproduced and committed, with one code file."""
    git(tmp_path, "init", "-q")
    (tmp_path / "code").mkdir()
    (tmp_path / "code/a.py").write_text("X = 1\n")
    (tmp_path / "data.txt").write_text("numbers\n")
    Repo.init(str(tmp_path)).close()
    write_yaml(tmp_path / "dvc.yaml", PIPELINE)
    (tmp_path / "sub").mkdir()
    Repo.init(str(tmp_path / "sub"), subdir=True).close()
    write_yaml(tmp_path / "sub/dvc.yaml", SUBPROJECT)
    for project in (tmp_path, tmp_path / "sub"):
        with chdir(project), Repo(str(project)) as repo:  # DVC reads its targets' paths from the cwd
            repo.reproduce()
    return tmp_path


def status(project):
    with chdir(project), Repo(str(project)) as repo:
        return repo.status()


def move_code(root):
    """The code file moves and gains a comment; both dvc.yaml files name its new path."""
    (root / "code/b.py").write_text("# X is the answer\nX = 1\n")
    (root / "code/a.py").unlink()
    for path in (root / "dvc.yaml", root / "sub/dvc.yaml"):
        path.write_text(path.read_text().replace("code/a.py", "code/b.py"))


def test_a_moved_file_is_followed_in_both_locks_and_nothing_else_changes(toy, capsys):
    before = {p: yaml.safe_load((toy / p).read_text()) for p in ("dvc.lock", "sub/dvc.lock")}
    move_code(toy)
    assert status(toy)  # stale: the locks name the old path
    assert status(toy / "sub")

    relock_code.main([str(toy), str(toy / "sub")])

    assert status(toy) == {}
    assert status(toy / "sub") == {}
    for path, old in before.items():
        new = yaml.safe_load((toy / path).read_text())
        assert new["stages"].keys() == old["stages"].keys()
        for name, stage in new["stages"].items():
            was = old["stages"][name]
            assert {k: v for k, v in stage.items() if k != "deps"} == {k: v for k, v in was.items() if k != "deps"}
            assert [d for d in stage["deps"] if d["path"] == "data.txt"] == [
                d for d in was["deps"] if d["path"] == "data.txt"
            ]
            assert [d["path"] for d in stage["deps"]] == ["code/b.py", "data.txt"]
    assert "sub/dvc.lock: 2 stage(s) re-recorded; code/a.py, code/b.py" in capsys.readouterr().out


def test_an_unchanged_lock_is_rewritten_byte_for_byte(toy):
    texts = {p: (toy / p).read_text() for p in ("dvc.lock", "sub/dvc.lock")}
    relock_code.main([str(toy), str(toy / "sub")])
    assert {p: (toy / p).read_text() for p in texts} == texts


def test_a_missing_code_file_is_a_one_line_error_and_the_lock_stays(toy):
    lock = (toy / "dvc.lock").read_text()
    (toy / "dvc.yaml").write_text((toy / "dvc.yaml").read_text().replace("code/a.py", "code/gone.py"))
    with pytest.raises(SystemExit, match=r"^error: code/gone\.py: No such file or directory"):
        relock_code.main([str(toy)])
    assert (toy / "dvc.lock").read_text() == lock
