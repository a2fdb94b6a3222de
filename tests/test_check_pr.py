"""`make check-pr`, what CI runs on a pull request, on a two-commit repository and the local SSH remote."""

import json
import re
import subprocess

import pytest
import yaml
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
    plots_shown = shown_images(comment, ci.path)
    assert "reports/live/lenet-dropout/plots/custom/accuracy.json" in plots_shown
    assert "reports/figures/lenet-dropout/curves.png" in plots_shown
    assert all("lenet-dropout" in plot for plot in plots_shown), plots_shown  # what moved, nothing else
    changed = json.loads(ci.dvc("metrics", "diff", "origin/main", "--json").stdout)
    assert set(changed) == {"reports/metrics/lenet-dropout.json", "reports/live/lenet-dropout/metrics.json"}
    for path, metrics in changed.items():  # every changed metric has its row, nothing elided (DVC: 5 digits)
        for key, values in metrics.items():
            assert [path, key, str(values["old"]), str(values["new"]), str(round(values["diff"], 5))] in rows, (
                path,
                key,
            )

    # The next pull request with this change, on another machine: what the first pushed, it restores.
    again = clone(origin, tmp_path / "ci-again", main.env, ssh_server)
    again.git("checkout", "-q", "wider-dropout")
    made = again.run("make", "-o", "setup", f"VENV={ROOT / '.venv'}", "BASE=origin/main", "check-pr", timeout=900)
    # Only the report, whose plain `cache: false` output keeps it out of DVC's run-cache, runs: seconds.
    assert ran_stages(made.stdout) == ["report"]
    assert "Stages run: `report`." in (again.path / "pr-comment.md").read_text()
    for path in ("models/lenet-dropout.keras", "reports/metrics/lenet-dropout.json"):
        assert (again.path / path).read_bytes() == (ci.path / path).read_bytes(), path


def shown_images(comment, directory):
    """{plot id: [image files]} of the comment's Plots section, each file checked to be a PNG beside it."""
    shown = {}
    for plot_id, link in re.findall(r"!\[([^\]:]+): [^\]]*\]\(([^)]+)\)", comment):
        assert (directory / link).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), link
        shown.setdefault(plot_id, []).append(link)
    return shown


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
    steps = yaml.safe_load(workflow)["jobs"]["results"]["steps"]
    (publish,) = [step["run"] for step in steps if step.get("name") == "publish the comment's images"]
    assert subprocess.run(["bash", "-n", "-c", publish], timeout=30).returncode == 0


def test_the_workflow_points_the_comments_image_links_at_the_branch_it_pushes(tmp_path):
    """The publishing step's link rewrite, run on a comment as ci/check-pr writes it."""
    workflow = yaml.safe_load((ROOT / ".github/workflows/check-pr.yml").read_text())
    (publish,) = [step for step in workflow["jobs"]["results"]["steps"] if step.get("name", "").startswith("publish")]
    (rewrite,) = [line for line in publish["run"].splitlines() if line.startswith("sed ")]
    (tmp_path / "pr-comment.md").write_text(
        "| a | b |\n| ![x: `main`](pr-plots/x-before.png) | ![x: new](pr-plots/x.png) |\n"
    )
    env = {"PATH": "/usr/bin:/bin", "BRANCH": "check-pr-plots-7", "REPOSITORY": "team/fashion"}
    subprocess.run(["bash", "-c", rewrite], cwd=tmp_path, env=env, check=True, timeout=30)
    url = "https://github.com/team/fashion/blob/check-pr-plots-7"
    assert (tmp_path / "pr-comment.md").read_text() == (
        f"| a | b |\n| ![x: `main`]({url}/x-before.png?raw=true) | ![x: new]({url}/x.png?raw=true) |\n"
    )
    assert subprocess.run(["bash", "-n", str(ROOT / "ci/check-pr")], timeout=30).returncode == 0
