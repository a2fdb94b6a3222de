"""tools/classify.py: a user's images through a trained model, as the evaluation predicts them."""

import csv
import gzip
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import ROOT, idx_bytes
from PIL import Image

from tools import classify

RECORD = '{"config": {"test_time_flip": false}}'


def run_classify(cwd, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "tools.classify", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def save_png(path, array, mode=None):
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode).save(path)
    return path


def test_grey_png_rgb_png_of_equal_channels_and_idx_files_are_read_as_28x28_images(tmp_path):
    image = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    assert (classify.read_images(save_png(tmp_path / "grey.png", image))[0][1] == image).all()
    rgb = save_png(tmp_path / "rgb.png", np.stack([image] * 3, axis=-1))
    assert (classify.read_images(rgb)[0][1] == image).all()
    stack = np.stack([image, 255 - image])
    (tmp_path / "images-idx3-ubyte").write_bytes(idx_bytes(stack))
    (tmp_path / "images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(stack)))
    for name in ("images-idx3-ubyte", "images-idx3-ubyte.gz"):
        named = classify.read_images(tmp_path / name)
        assert [n for n, _ in named] == [f"{tmp_path / name}[0]", f"{tmp_path / name}[1]"]
        assert (np.stack([a for _, a in named]) == stack).all()


def test_each_bad_image_is_one_line_naming_it_and_nothing_is_classified(tmp_path):
    grey = np.full((28, 28), 128, dtype=np.uint8)
    colour = np.stack([grey, grey // 2, grey], axis=-1)
    bad = {
        save_png(tmp_path / "large.png", np.zeros((32, 32))): "32x32 pixels, expected 28x28",
        save_png(tmp_path / "colour.png", colour): "a colour image (RGB), expected grey",
        tmp_path / "notes.png": "neither a PNG nor an IDX file",
        tmp_path / "missing.png": "cannot read (No such file or directory)",
        tmp_path / "large-idx3-ubyte": "32x32 pixels, expected 28x28",
        tmp_path / "labels-idx1-ubyte": "expected images (count, 28, 28)",
        tmp_path / "broken.png": "not a readable PNG",
    }
    (tmp_path / "notes.png").write_text("a shirt, I think\n")
    (tmp_path / "large-idx3-ubyte").write_bytes(idx_bytes(np.zeros((2, 32, 32))))
    (tmp_path / "labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(5)))
    (tmp_path / "broken.png").write_bytes((tmp_path / "large.png").read_bytes()[:45])
    good = save_png(tmp_path / "good.png", grey)
    model, record = tmp_path / "model.keras", tmp_path / "training.json"
    with zipfile.ZipFile(model, "w"):  # a zip: the model is never loaded, as the images fail first
        pass
    record.write_text(RECORD)

    result = run_classify(ROOT, model, good, *bad, "--record", record)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(bad), result.stderr
    for line, (path, message) in zip(lines, bad.items(), strict=True):
        assert line.startswith(f"error: {path}: "), line
        assert message in line, line


def test_a_model_without_its_training_record_is_one_line_saying_where_to_get_it(tmp_path):
    image = save_png(tmp_path / "good.png", np.zeros((28, 28)))
    result = run_classify(ROOT, tmp_path / "lenet-tuned.keras", image)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: reports/training/lenet-tuned/training.json: no training record for "
        f"{tmp_path / 'lenet-tuned.keras'} (it says whether to predict with the mirror image too); give --record, "
        "e.g. after dvc get <repo> reports/training/<model>/training.json",
        f"error: {tmp_path / 'lenet-tuned.keras'}: no such model file; run 'dvc repro' for its training stage",
    ]


@pytest.mark.parametrize("model", ["lenet-tuned", "mlp"])  # with flip TTA (its record says so), and without
def test_the_first_25_test_images_get_the_evaluations_labels(quick_project, tmp_path, model):
    project = quick_project.path
    with np.load(project / "data/prepared/test.npz") as test:
        images = np.rint(test["x"][:25] * 255).astype(np.uint8).reshape(-1, 28, 28)
    with open(project / f"reports/predictions/{model}.csv", newline="") as f:
        expected = [row["predicted"] for row in csv.DictReader(f)][:25]
    (tmp_path / "test-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    pngs = [save_png(tmp_path / f"{i:02d}.png", image) for i, image in enumerate(images[:3])]

    result = run_classify(
        project, f"models/{model}.keras", tmp_path / "test-idx3-ubyte.gz", *pngs, env=quick_project.env
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [name for name, _, _ in rows] == [f"{tmp_path / 'test-idx3-ubyte.gz'}[{i}]" for i in range(25)] + [
        str(png) for png in pngs
    ]
    assert [label for _, label, _ in rows] == expected + expected[:3]
    assert all(0.1 <= float(p) <= 1 for _, _, p in rows)  # the top class of ten has at least a tenth
