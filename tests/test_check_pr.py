"""`make check-pr`, what CI runs on a pull request, on a two-commit repository and the local SSH remote."""

import json
import subprocess

import pytest
from conftest import ROOT, clone, ran_stages, share
from ssh_server import SSHD

pytestmark = pytest.mark.skipif(not SSHD.exists(), reason="no OpenSSH server: apt-get install openssh-server")


def test_a_pull_request_retrains_only_what_it_touches_and_the_comment_shows_every_change(
    quick_copy, ssh_server, tmp_path
):
    main = quick_copy
    origin = share(main, ssh_server, tmp_path)
    # The change under review: one param, committed and pushed without reproducing anything.
    main.git("checkout", "-q", "-b", "wider-dropout")
    main.set_params(**{"lenet.dropout.dropout": 0.3})
    main.git("commit", "-q", "-am", "lenet.dropout: rate 0.3")
    main.git("push", "-q", "origin", "wider-dropout")

    ci = clone(origin, tmp_path / "ci", main.env, ssh_server)
    ci.git("checkout", "-q", "wider-dropout")
    # setup is the venv these tests run in (-o: not rebuilt for the clone's newer requirements.txt)
    made = ci.run("make", "-o", "setup", f"VENV={ROOT / '.venv'}", "BASE=origin/main", "check-pr", timeout=900)
    ran = sorted(ran_stages(made.stdout))
    assert ran == ["evaluate_lenet@dropout", "report", "train_lenet@dropout"]
    assert ci.stale_stages() == set()

    comment = (ci.path / "pr-comment.md").read_text()
    assert "Stages run: `evaluate_lenet@dropout`, `report`, `train_lenet@dropout`." in comment
    rows = table_rows(comment)
    assert ["params.yaml", "lenet.dropout.dropout", "0.5", "0.3"] in rows
    changed = json.loads(ci.dvc("metrics", "diff", "origin/main", "--json").stdout)
    assert set(changed) == {"reports/metrics/lenet-dropout.json", "reports/live/lenet-dropout/metrics.json"}
    for path, metrics in changed.items():  # every changed metric has its row, nothing elided (DVC: 5 digits)
        for key, values in metrics.items():
            assert [path, key, str(values["old"]), str(values["new"]), str(round(values["diff"], 5))] in rows, (
                path,
                key,
            )


def table_rows(markdown):
    """The cells of every markdown table row, stripped of the padding DVC aligns them with."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]


def test_the_workflow_only_calls_the_make_target_and_posts_its_comment():
    workflow = (ROOT / ".github/workflows/check-pr.yml").read_text()
    assert "make check-pr BASE=origin/${{ github.base_ref }}" in workflow
    assert "--body-file pr-comment.md" in workflow
    assert subprocess.run(["bash", "-n", str(ROOT / "ci/check-pr")], timeout=30).returncode == 0
