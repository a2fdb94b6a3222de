"""README.md and docs/: short, every shown figure generated from the committed files, every link alive.

No TensorFlow and no pipeline run: these read Markdown, JSON and CSV only.
"""

import ast
import importlib.util
import io
import json
import re
import shutil
import subprocess
import tokenize
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs/generate.py")
generate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate)

PAGES = generate.pages(ROOT)
PAGE_IDS = [page.relative_to(ROOT).as_posix() for page in PAGES]

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
# What a pipeline or benchmark measures, typed as a page would restate it: scores and losses with three or
# more decimals, durations, percentages, speed-ups, throughputs and memory.
FIGURE = re.compile(
    r"\b\d+\.\d{3,}\b"
    r"|\b\d[\d,.]*\s?(?:s|ms|min|minutes|seconds|h|hours|MiB|GiB|MB)\b"
    r"|\b\d[\d,.]*\s?%"
    r"|\b\d+(?:\.\d+)?x\b"
    r"|\b\d[\d,.]*\s?images/s\b"
)
DIARY = ("on the day", "drifted", "last round", "this round", "previous round", "earlier round", "was not re-run")


def prose(text):
    """`text` without generated blocks, fenced code and inline code: what a person typed as sentences."""
    text = generate.BLOCK.sub("", text)
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading):
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path):
    """Every heading's anchor in a Markdown file; a repeated heading gets -1, -2, as on GitHub."""
    seen, found = {}, set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def broken_links(page, root=ROOT):
    """Each relative link or anchor of `page` that names no file, or no heading of the file it names."""
    broken = []
    for target in LINK.findall(INLINE_CODE.sub("``", FENCE.sub("", page.read_text()))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not ours to check
            continue
        file, _, anchor = unquote(target).partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists() or root.resolve() not in (path, *path.parents):
            broken.append(f"{target}: no such file in the repository")
        elif anchor and (path.suffix != ".md" or anchor not in anchors(path)):
            broken.append(f"{target}: no heading with that anchor")
    return broken


# A file a comment points to: a path ending in .py, .md, .yaml or .toml, perhaps with a #heading anchor.
CODE_POINTER = re.compile(r"(?<![\w/.<{-])((?:[\w.-]+/)*[\w.-]*\w\.(?:py|md|yaml|toml))(?:#([\w-]+))?(?![\w/(])")


def tracked_files():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return [ROOT / name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


def comments(path):
    """A Python file's comments and docstrings; the `#` comments of a Makefile, YAML or shell file."""
    text = path.read_text()
    if path.suffix != ".py":
        return [line.partition("#")[2] for line in text.splitlines() if line.lstrip().startswith("#") or " #" in line]
    found = [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return found + [ast.get_docstring(n) or "" for n in ast.walk(ast.parse(text)) if isinstance(n, documented)]


def broken_pointers(path, files, root=ROOT):
    """Each file, or heading anchor of a Markdown file, that a comment of `path` names and that does not exist."""
    names = {file.name for file in files}
    broken = []
    for comment in comments(path):
        for target, anchor in CODE_POINTER.findall(comment):
            found = next((p for p in (root / target, path.parent / target) if p.is_file()), None)
            if found is None and not ("/" not in target and target in names):
                broken.append(f"{target}: no such file")
            elif anchor and found is not None and anchor not in anchors(found):
                broken.append(f"{target}#{anchor}: no heading with that anchor")
    return broken


CODE_FILES = [
    path
    for path in tracked_files()
    if path.suffix in (".py", ".yaml") or path.name in ("Makefile", "run", "check-pr")
    if not path.relative_to(ROOT).as_posix().startswith(".dvc/")
]


@pytest.mark.parametrize("path", CODE_FILES, ids=[p.relative_to(ROOT).as_posix() for p in CODE_FILES])
def test_every_file_and_section_a_comment_names_exists(path):
    assert broken_pointers(path, CODE_FILES) == []


def test_a_comment_naming_a_missing_file_or_section_is_reported(tmp_path):
    (tmp_path / "guide.md").write_text("# Guide\n\n## Set-up\n")
    code = tmp_path / "code.py"
    code.write_text(
        '"""See guide.md#set-up and SPEC.md."""\n\n'
        "x = 'gone.md'  # a string is no pointer; guide.md#nowhere is one, hashlib.md5 is none\n"
    )
    assert broken_pointers(code, [code], root=tmp_path) == [
        "guide.md#nowhere: no heading with that anchor",
        "SPEC.md: no such file",
    ]


def test_readme_is_a_five_minute_read():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_readme_shows_the_two_commands_and_ci_runs_the_test_one():
    blocks = FENCE.findall((ROOT / "README.md").read_text())
    commands = {line.split("#")[0].strip() for block in blocks for line in block.splitlines()}
    assert {"make repro", "make test"} <= commands
    assert (ROOT / ".ci/run").read_text().strip().splitlines()[-1] == "make test"


def test_every_generated_block_matches_the_committed_files():
    assert generate.stale(ROOT) == [], "run `python docs/generate.py` and commit the pages it rewrites"


def test_every_block_the_generator_knows_is_shown_on_a_page():
    shown = {match.group("name") for page in PAGES for match in generate.BLOCK.finditer(page.read_text())}
    assert shown == set(generate.BLOCKS)


def test_a_figure_edited_by_hand_inside_a_block_is_caught():
    rendered = {name: render(ROOT) for name, render in generate.BLOCKS.items()}
    page = f"# Results\n\n<!-- generated: results -->\n\n{rendered['results']}\n<!-- end: results -->\n\nMore.\n"
    assert generate.regenerate(page, rendered) == page
    accuracy = json.loads((ROOT / "reports/metrics/mlp.json").read_text())["test"]["accuracy"]
    edited = page.replace(f"| {accuracy:.4f} |", f"| {accuracy + 0.01:.4f} |")
    assert edited != page
    assert generate.regenerate(edited, rendered) == page


def test_a_new_run_rewrites_the_results_block(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path)
    shutil.copytree(ROOT / "reports/metrics", tmp_path / "reports/metrics")
    shutil.copytree(ROOT / "reference", tmp_path / "reference", ignore=shutil.ignore_patterns("runs", ".dvc"))
    path = tmp_path / "reports/metrics/lenet-base.json"
    metrics = json.loads(path.read_text())
    before = generate.results(tmp_path)
    metrics["test"]["accuracy"] = 0.5
    path.write_text(json.dumps(metrics))
    after = generate.results(tmp_path)
    assert after != before
    assert "| `lenet-base` | 0.5000 |" in after


@pytest.mark.parametrize(
    "text",
    [
        "<!-- generated: results -->\nno end\n",
        "<!-- generated: nonesuch -->\n<!-- end: nonesuch -->\n",
        "<!-- end: results -->\n",
    ],
)
def test_a_broken_or_unknown_marker_is_an_error(text):
    with pytest.raises(ValueError, match="markers"):
        generate.regenerate(text, {"results": "table\n"})


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Adding a LeNet variant", "adding-a-lenet-variant"),
        ("The cpu_isa pin", "the-cpu_isa-pin"),
        ("What decides a model's bits", "what-decides-a-models-bits"),
        ("Every change checked: make check-pr", "every-change-checked-make-check-pr"),
        ("If `git status` is dirty", "if-git-status-is-dirty"),
        ("See [tuning](docs/tuning.md)", "see-tuning"),
    ],
)
def test_anchors_are_githubs(heading, anchor):
    assert slug(heading) == anchor


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_a_missing_file_or_anchor_is_reported(tmp_path):
    root = tmp_path / "repository"
    root.mkdir()
    (tmp_path / "outside.md").write_text("# Outside\n")
    (root / "other.md").write_text("# Title\n\n## Part one\n\n## Part one\n")
    page = root / "page.md"
    page.write_text(
        "# Here\n\n[ok](other.md#part-one-1) [ok](#here) [web](https://example.org/x#y) `[code](nowhere.md)`\n"
        "```\n[fenced](nowhere.md)\n```\n"
        "[gone](missing.md) [bad](other.md#part-two) [bad](#there) [outside](../outside.md)\n"
    )
    assert [line.split(":")[0] for line in broken_links(page, root)] == [
        "missing.md",
        "other.md#part-two",
        "#there",
        "../outside.md",
    ]


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_no_measured_figure_is_typed_by_hand(page):
    """A figure a run produced lives in its committed file or a generated block, never in typed prose."""
    assert [match.group(0) for match in FIGURE.finditer(prose(page.read_text()))] == []


def test_the_figure_check_sees_restated_figures():
    text = "Test accuracy 0.9348, a fit of 596 s, 64 % of the time, 1.85x, 6,885 images/s, 1,312 MiB.\n"
    assert len(FIGURE.findall(prose(text))) == 6
    assert FIGURE.findall(prose("Python 3.11, 2x2 pooling, x86-64, 160 columns, `0.9348`\n")) == []


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_pages_are_manuals_not_diaries(page):
    text = page.read_text().lower()
    assert [phrase for phrase in DIARY if phrase in text] == []
