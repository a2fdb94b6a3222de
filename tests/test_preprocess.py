import numpy as np
import pytest

from stages.common import StageError, load_split
from stages.preprocess import flatten_and_scale, one_hot, read_params, save_split, split

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (1000, 28, 28), dtype=np.uint8)
LABELS = np.repeat(np.arange(10, dtype=np.uint8), 100)


def test_split_sizes_follow_the_fraction():
    (x_train, y_train), (x_val, y_val) = split(IMAGES, LABELS, 0.2, seed=1)
    assert (len(x_train), len(x_val)) == (800, 200)
    assert len(y_train) == 800 and len(y_val) == 200


def test_split_is_stratified():
    (_, y_train), (_, y_val) = split(IMAGES, LABELS, 0.2, seed=1)
    assert np.bincount(y_train).tolist() == [80] * 10
    assert np.bincount(y_val).tolist() == [20] * 10


def test_split_is_a_partition():
    (x_train, _), (x_val, _) = split(IMAGES, LABELS, 0.2, seed=1)
    rows = {x.tobytes() for x in np.concatenate([x_train, x_val])}
    assert rows == {x.tobytes() for x in IMAGES}


def test_same_seed_same_split_other_seed_other_split():
    (a, _), _ = split(IMAGES, LABELS, 0.2, seed=1)
    (b, _), _ = split(IMAGES, LABELS, 0.2, seed=1)
    (c, _), _ = split(IMAGES, LABELS, 0.2, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_max_train_samples_subsamples_train_only_and_stratified():
    (x_train, y_train), (x_val, _) = split(IMAGES, LABELS, 0.2, seed=1, max_train_samples=300)
    assert len(x_train) == 300 and len(x_val) == 200
    assert np.bincount(y_train).tolist() == [30] * 10


def test_flatten_and_scale():
    x = flatten_and_scale(IMAGES)
    assert x.dtype == np.float32 and x.shape == (1000, 784)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x[0, 0] == pytest.approx(IMAGES[0, 0, 0] / 255)
    assert flatten_and_scale(np.full((1, 28, 28), 255, np.uint8)).max() == 1.0


def test_one_hot():
    y = one_hot(np.array([9, 0, 3], dtype=np.uint8))
    assert y.dtype == np.float32 and y.shape == (3, 10)
    assert y.sum(axis=1).tolist() == [1.0, 1.0, 1.0]
    assert y.argmax(axis=1).tolist() == [9, 0, 3]


def test_saved_split_has_the_contracted_arrays(tmp_path):
    save_split(tmp_path / "train.npz", IMAGES[:50], LABELS[:50])
    x, y, label = load_split("train", tmp_path)
    assert x.dtype == np.float32 and x.shape == (50, 784)
    assert y.dtype == np.float32 and y.shape == (50, 10)
    assert label.dtype == np.uint8 and label.tolist() == LABELS[:50].tolist()
    assert [p.name for p in tmp_path.iterdir()] == ["train.npz"]


def test_a_corrupt_prepared_file_is_named(tmp_path):
    (tmp_path / "val.npz").write_bytes(b"garbage")
    with pytest.raises(StageError, match=r"val.npz: not a prepared split"):
        load_split("val", tmp_path)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"val_fraction": 0, "max_train_samples": None}, r"data.val_fraction: expected a number in \(0, 1\), got 0"),
        ({"val_fraction": 1.5, "max_train_samples": None}, r"data.val_fraction: expected a number in \(0, 1\)"),
        ({"val_fraction": "a", "max_train_samples": None}, r"data.val_fraction: expected a number"),
        ({"val_fraction": 0.2, "max_train_samples": 5}, r"data.max_train_samples: expected an integer >= 10 or null"),
        ({"val_fraction": 0.2, "max_train_samples": 1.5}, r"data.max_train_samples: expected an integer"),
        ({"val_fraction": 0.2}, r"data.max_train_samples: missing"),
    ],
)
def test_bad_params_name_the_key(data, message):
    with pytest.raises(StageError, match=message):
        read_params({"seed": 0, "data": data})
