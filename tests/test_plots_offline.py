"""`dvc plots show` and `dvc plots diff` pages draw every chart with the network blocked (issue 9).

Headless Chromium opens the pages with every host name unresolvable; a chart that vega drew has an
element with class `marks` (vega's <canvas> or <svg>). The repository's own set-up is what is tested:
the tiny project below gets the committed .dvc/config and fallback page, then the set-up's
.dvc/offline-plots/build.py, exactly as a clone does when `make setup` runs.
"""

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOT, venv_env

OFFLINE_DIR = ROOT / ".dvc" / "offline-plots"
TEMPLATE = OFFLINE_DIR / "offline.html"
COMMITTED = (".dvc/config", ".dvc/offline-plots/fallback.html")
NOTICE = "could not be drawn"  # fallback.html's message when the libraries did not load
TIMEOUT = 180


@pytest.fixture(scope="module")
def chromium():
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium, as .ci/run does)")
    return path


@pytest.fixture(scope="module")
def offline_setup():
    """The set-up's node_modules and generated template in this checkout."""
    if not (OFFLINE_DIR / "node_modules").is_dir() or not TEMPLATE.is_file():
        if shutil.which("npm") is None:
            pytest.skip("npm not installed: `make setup` could not install the offline chart libraries")
        pytest.fail(f"{TEMPLATE.relative_to(ROOT)} missing: run `make setup`")
    return TEMPLATE


def run(args, cwd, env=None, timeout=TIMEOUT):
    result = subprocess.run(args, cwd=cwd, env=env or venv_env(), capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


# --- reading the pages -----------------------------------------------------------


def vega_plots(project, *plots_args):
    """The vega plots `dvc plots show|diff --json` lists."""
    shown = json.loads(run(["dvc", "plots", *plots_args, "--json"], project))
    assert not shown.get("errors"), shown["errors"]
    return [entry for entries in shown["data"].values() for entry in entries if entry["type"] == "vega"]


def vega_div_ids(page):
    """The ids of the divs DVC wrote one chart into each (`vegaEmbed('#id', spec)`)."""
    return re.findall(r"vegaEmbed\('#([^']+)'", Path(page).read_text(encoding="utf8"))


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class MarksFinder(HTMLParser):
    """Ids of the elements that hold an element with class `marks`, and the page's text."""

    def __init__(self):
        super().__init__()
        self.open_ids = []  # the id (or None) of every open element
        self.with_marks = set()
        self.text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "marks" in (attrs.get("class") or "").split():
            self.with_marks.update(i for i in self.open_ids if i)
        if tag not in VOID:
            self.open_ids.append(attrs.get("id"))

    def handle_startendtag(self, tag, attrs):
        if "marks" in (dict(attrs).get("class") or "").split():
            self.with_marks.update(i for i in self.open_ids if i)

    def handle_endtag(self, tag):
        if tag not in VOID and self.open_ids:
            self.open_ids.pop()

    def handle_data(self, data):
        self.text.append(data)


def render_offline(chromium, page, profile):
    """The page's DOM after headless Chromium ran its scripts with every host unresolvable."""
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=10000",
            "--dump-dom",
            Path(page).resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    failed = f"chromium failed ({result.returncode}):\n{result.stderr[-3000:]}"
    assert result.returncode == 0, failed
    assert "</html>" in result.stdout, failed
    finder = MarksFinder()
    finder.feed(result.stdout)
    return finder


def rendered_charts(chromium, page, profile):
    """(ids of DVC's chart divs, ids of those with a drawn chart, the page's text) with no network."""
    expected = vega_div_ids(page)
    finder = render_offline(chromium, page, profile)
    return expected, sorted(finder.with_marks.intersection(expected)), " ".join(finder.text)


def assert_all_render(chromium, page, n_vega, profile):
    expected, drawn, text = rendered_charts(chromium, page, profile)
    assert len(expected) == n_vega, f"{page}: {len(expected)} chart divs, `--json` lists {n_vega} vega plots"
    assert len(set(expected)) == len(expected), f"{page}: two charts share a div id: {sorted(expected)}"
    assert drawn == sorted(expected), (
        f"{page}: not drawn with the network blocked: {sorted(set(expected) - set(drawn))}"
    )
    assert NOTICE not in text


# --- a tiny DVC project set up as a clone of this repository -----------------------

DVC_YAML = """\
plots:
  - Loss:
      template: linear
      x: epoch
      y:
        history.csv: [loss, val_loss]
  - Accuracy:
      template: linear
      x: epoch
      y:
        history.csv: accuracy
  - Confusion:
      template: confusion
      x: actual
      y:
        predictions.csv: predicted
"""


def write_data(project, shift):
    rows = [
        f"{epoch},{1 / (epoch + shift):.4f},{1.2 / (epoch + shift):.4f},{1 - 0.5 / (epoch + shift):.4f}"
        for epoch in range(1, 6)
    ]
    (project / "history.csv").write_text("epoch,loss,val_loss,accuracy\n" + "\n".join(rows) + "\n")
    labels = ["cat", "dog", "bird"]
    pairs = [(a, labels[(i + shift) % 3 if i % 4 == 0 else i % 3]) for i, a in enumerate(labels * 4)]
    (project / "predictions.csv").write_text("actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in pairs))


@pytest.fixture
def tiny_project(tmp_path):
    """Two commits of plot data, with this repository's committed DVC config and fallback page."""
    project = tmp_path / "project"
    project.mkdir()
    git = ["git", "-c", "user.email=plots@example.invalid", "-c", "user.name=plots"]
    run(["git", "init", "-q", "-b", "main"], project)
    run(["dvc", "init", "-q"], project)
    for name in COMMITTED:  # what a clone has before its set-up
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)
    (project / "dvc.yaml").write_text(DVC_YAML)
    for shift in (1, 2):
        write_data(project, shift)
        run(["git", "add", "-A"], project)
        run([*git, "commit", "-q", "-m", f"data {shift}"], project)
    return project


def set_up(project):
    """The set-up step `make setup` runs, for this project: the generated template and local config."""
    run([sys.executable, str(OFFLINE_DIR / "build.py"), str(project)], ROOT)


def test_committed_config_without_set_up_says_how_to_get_offline_charts(chromium, tiny_project, tmp_path):
    assert not (tiny_project / ".dvc/config.local").exists()
    run(["dvc", "plots", "show", "-o", str(tmp_path / "shown")], tiny_project)
    expected, drawn, text = rendered_charts(chromium, tmp_path / "shown/index.html", tmp_path / "profile")
    assert len(expected) == 3
    assert drawn == []
    assert NOTICE in text
    assert "make setup" in text


def test_show_and_diff_pages_render_every_chart_offline(chromium, offline_setup, tiny_project, tmp_path):
    set_up(tiny_project)
    assert run(["dvc", "config", "plots.html_template"], tiny_project).strip() == "offline-plots/offline.html"

    # The default output directory, then one elsewhere: the page carries its libraries.
    run(["dvc", "plots", "show"], tiny_project)
    shown = vega_plots(tiny_project, "show")
    assert len(shown) == 3
    assert_all_render(chromium, tiny_project / "dvc_plots/index.html", len(shown), tmp_path / "profile")

    run(["dvc", "plots", "diff", "HEAD~1", "HEAD", "-o", str(tmp_path / "diff")], tiny_project)
    diffed = vega_plots(tiny_project, "diff", "HEAD~1", "HEAD")
    assert len(diffed) == 3
    assert all(plot["revisions"] == ["HEAD~1", "HEAD"] for plot in diffed)
    assert_all_render(chromium, tmp_path / "diff/index.html", len(diffed), tmp_path / "profile")


def test_the_generated_template_pins_the_installed_libraries(offline_setup):
    pins = json.loads((OFFLINE_DIR / "package.json").read_text())["dependencies"]
    lock = json.loads((OFFLINE_DIR / "package-lock.json").read_text())["packages"]
    page = offline_setup.read_text(encoding="utf8")
    for name, version in pins.items():
        assert lock[f"node_modules/{name}"]["version"] == version
        assert f"{name} {version}" in page
    assert "cdn.jsdelivr.net" not in page
    assert "{plot_divs}" in page
    assert "{scripts}" not in page


# --- the real pipeline's plots ----------------------------------------------------


def test_every_chart_of_the_pipeline_renders_offline(chromium, offline_setup, quick_project, tmp_path):
    """Whatever plots dvc.yaml defines: every vega plot of a reproduced run is drawn with no network."""
    project = quick_project.path
    n_vega = len(vega_plots(project, "show"))
    assert n_vega > 0, "dvc.yaml defines no vega plots"
    # The copy has no set-up of its own (ignored files are not copied): give it the template by path.
    run(
        ["dvc", "plots", "show", "--html-template", str(offline_setup), "-o", str(tmp_path / "shown")],
        project,
        env=quick_project.env,
    )
    assert_all_render(chromium, tmp_path / "shown/index.html", n_vega, tmp_path / "profile")
