"""The data stages under `dvc repro`, on the real Fashion-MNIST files."""

import json

import numpy as np
import pytest
from conftest import DATA_STAGES, make_project

pytestmark = pytest.mark.integration  # a copy of the project on the real data


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("data") / "project")
    project.ran = project.repro(*DATA_STAGES)
    return project


def test_first_repro_runs_every_data_stage(project):
    assert sorted(project.ran) == sorted(DATA_STAGES)


def test_raw_files_are_the_four_originals(project):
    names = sorted(p.name for p in (project.path / "data/raw").iterdir())
    assert names == sorted(
        [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
    )


def test_prepared_splits_on_real_data(project):
    sizes = {}
    for name in ("train", "val", "test"):
        with np.load(project.path / f"data/prepared/{name}.npz") as data:
            x, y, label = data["x"], data["y"], data["label"]
        assert x.dtype == np.float32
        assert x.shape[1] == 784
        assert x.min() >= 0.0
        assert x.max() <= 1.0
        assert y.dtype == np.float32
        assert (y.sum(axis=1) == 1).all()
        assert (y.argmax(axis=1) == label).all()
        sizes[name] = len(x)
        if name == "train":
            assert np.bincount(label).tolist() == [4800] * 10
    assert sizes == {"train": 48_000, "val": 12_000, "test": 10_000}


def test_scratch_backprop_report(project):
    result = json.loads((project.path / "reports/scratch_backprop.json").read_text())
    assert result["loss"] == 0.1332476222330792
    assert np.shape(result["gradients"]["W1"]) == (3, 2)
    assert result["gradient_check"]["max_relative_error"] < 1e-6


def test_sample_grids_are_written(project):
    for name in ("samples_dev.png", "samples_test.png"):
        assert (project.path / "reports/figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_show_lists_the_backprop_loss(project):
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    metrics = shown[""]["data"]["reports/metrics/scratch_backprop.json"]["data"]
    assert metrics["loss"] == 0.1332476222330792


def test_second_repro_runs_nothing_and_status_is_clean(project):
    assert project.repro(*DATA_STAGES) == []
    assert "up to date" in project.dvc("status", *DATA_STAGES).stdout


def test_changing_val_fraction_reruns_preprocess_not_download(project):
    project.set_params(**{"data.val_fraction": 0.25})
    try:
        assert project.repro(*DATA_STAGES) == ["preprocess"]
        with np.load(project.path / "data/prepared/val.npz") as data:
            assert len(data["label"]) == 15_000
    finally:
        project.set_params(**{"data.val_fraction": 0.2})
