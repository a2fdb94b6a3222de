"""The plots a change moved, as PNG images and the markdown that shows them (the pull-request comment's).

    python -m ci.changed_plots BASE DIR    # writes DIR/*.png; prints markdown for a file beside DIR

`dvc plots diff BASE --json` gives every plot of dvc.yaml with its data from BASE and from the
workspace. A plot is changed when its data differ between the two (or one has none): its Vega-Lite
chart, both revisions drawn together as `dvc plots diff` draws them, is rendered to PNG by vl-convert,
which bundles Vega and runs offline; an image plot (a figure a stage drew) is shown as it is, before
and after. The unchanged plots are left out, so that the comment shows what the change did.
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WORKSPACE = "workspace"  # DVC's name for the uncommitted revision
SCALE = 1  # DVC's templates are drawn 300 pixels wide: readable in a comment as they are


def plots_diff(base, out_dir):
    """DVC's JSON of every plot at `base` and in the workspace; image plots are copied under `out_dir`."""
    result = subprocess.run(
        ["dvc", "plots", "diff", base, "--json", "-o", str(out_dir)], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        sys.exit(f"error: dvc plots diff {base} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)["data"]


def rows_by_revision(spec):
    """The chart's data rows of each revision, without the `rev` field DVC adds to tell them apart."""
    revisions = {}
    for row in spec["data"]["values"]:
        fields = {key: value for key, value in row.items() if key != "rev"}
        revisions.setdefault(row["rev"], []).append(json.dumps(fields, sort_keys=True))
    return {rev: sorted(rows) for rev, rows in revisions.items()}


def vega_changed(entry, base):
    rows = rows_by_revision(entry["content"])
    return rows.get(base) != rows.get(WORKSPACE)


def images_changed(entries):
    """Image plots come one entry a revision; changed when only one revision has it or the bytes differ."""
    contents = {Path(entry["url"]).read_bytes() for entry in entries}
    return len(entries) == 1 or len(contents) > 1


def file_name(plot_id, suffix=""):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", plot_id).strip("_") + suffix + ".png"


def changed_plots(data, base, out_dir):
    """[(plot id, [(caption, PNG file name)])] for each changed plot, its PNGs written under `out_dir`."""
    import vl_convert

    shown = []
    for plot_id, entries in data.items():
        if entries[0]["type"] == "vega":
            entry = entries[0]
            if not vega_changed(entry, base):
                continue
            name = file_name(plot_id)
            (out_dir / name).write_bytes(vl_convert.vegalite_to_png(entry["content"], scale=SCALE))
            shown.append((plot_id, [(f"`{base}` and this change", name)]))
        elif entries[0]["type"] == "image" and images_changed(entries):
            images = []
            for entry in entries:
                (revision,) = entry["revisions"]
                name = file_name(plot_id, "-" + ("after" if revision == WORKSPACE else "before"))
                shutil.copyfile(entry["url"], out_dir / name)
                images.append(("this change" if revision == WORKSPACE else f"`{base}`", name))
            shown.append((plot_id, sorted(images, key=lambda image: image[1].endswith("-after.png"))))
    return shown


def markdown(shown, link_dir):
    if not shown:
        return "No plot changed.\n"
    lines = []
    for plot_id, images in shown:
        lines.append(f"**{plot_id}**\n")
        header = "| " + " | ".join(caption for caption, _ in images) + " |"
        cells = "| " + " | ".join(f"![{plot_id}: {caption}]({link_dir}/{name})" for caption, name in images) + " |"
        lines += [header, "|" + "---|" * len(images), cells, ""]
    return "\n".join(lines)


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    base, out_dir = argv[0], Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        shown = changed_plots(plots_diff(base, Path(scratch)), base, out_dir)
    print(markdown(shown, out_dir.name), end="")  # links relative to the comment, which lies beside DIR


if __name__ == "__main__":
    main(sys.argv[1:])
