"""ci/changed_plots.py: the plots a change moved, drawn to PNG with no network, and nothing else."""

import json
import subprocess
import sys

from conftest import ROOT, venv_env

from ci import changed_plots

PNG = b"\x89PNG\r\n\x1a\n"
PIPELINE = """\
plots:
  - curves/accuracy.json:
      template: linear
      x: epoch
      y: train
  - curves/loss.json:
      template: linear
      x: epoch
      y: train
  - figures/confusion.png
  - figures/samples.png
"""


def write_curve(path, values):
    path.write_text(json.dumps([{"epoch": i + 1, "train": v} for i, v in enumerate(values)]))


def draw(path, shade):
    """A tiny PNG of one grey level, drawn as a stage would draw a figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(0.5, 0.5))
    figure.patch.set_facecolor(str(shade))
    figure.savefig(path)
    plt.close(figure)


def test_only_the_moved_plots_are_drawn_and_shown_beside_their_base(tmp_path):
    repo, env = tmp_path / "repo", venv_env()
    (repo / "curves").mkdir(parents=True)
    (repo / "figures").mkdir()
    for args in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(args, cwd=repo, env=env, check=True, timeout=120)
    (repo / "dvc.yaml").write_text(PIPELINE)
    write_curve(repo / "curves/accuracy.json", [0.5, 0.6])
    write_curve(repo / "curves/loss.json", [0.9, 0.7])
    draw(repo / "figures/confusion.png", 0.2)
    draw(repo / "figures/samples.png", 0.4)
    for args in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
        subprocess.run(args, cwd=repo, env=env, check=True, timeout=120)
    write_curve(repo / "curves/accuracy.json", [0.55, 0.65])  # the change: one curve and one figure
    draw(repo / "figures/confusion.png", 0.8)

    result = subprocess.run(
        [sys.executable, "-m", "ci.changed_plots", "HEAD", str(repo / "pr-plots")],
        cwd=repo,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    drawn = sorted(path.name for path in (repo / "pr-plots").iterdir())
    assert drawn == ["curves_accuracy.json.png", "figures_confusion.png-after.png", "figures_confusion.png-before.png"]
    for name in drawn:
        assert (repo / "pr-plots" / name).read_bytes().startswith(PNG), name
    assert (repo / "pr-plots/figures_confusion.png-after.png").read_bytes() == (
        repo / "figures/confusion.png"
    ).read_bytes()
    assert result.stdout == (
        "**curves/accuracy.json**\n\n"
        "| `HEAD` and this change |\n|---|\n"
        "| ![curves/accuracy.json: `HEAD` and this change](pr-plots/curves_accuracy.json.png) |\n\n"
        "**figures/confusion.png**\n\n"
        "| `HEAD` | this change |\n|---|---|\n"
        "| ![figures/confusion.png: `HEAD`](pr-plots/figures_confusion.png-before.png) "
        "| ![figures/confusion.png: this change](pr-plots/figures_confusion.png-after.png) |\n"
    )


def test_a_change_that_moves_no_plot_says_so():
    assert changed_plots.markdown([], "pr-plots") == "No plot changed.\n"


def test_a_plot_only_one_revision_has_is_changed():
    spec = {"data": {"values": [{"epoch": 1, "train": 0.5, "rev": "workspace"}]}}
    assert changed_plots.vega_changed({"content": spec}, "main")
    spec["data"]["values"].append({"epoch": 1, "train": 0.5, "rev": "main"})
    assert not changed_plots.vega_changed({"content": spec}, "main")
