import numpy as np
import pytest

from stages.common import StageError, load_split
from stages.preprocess import flatten_and_scale, one_hot, save_split, split, subset

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (1000, 28, 28), dtype=np.uint8)
LABELS = np.repeat(np.arange(10, dtype=np.uint8), 100)


def test_split_sizes_follow_the_fraction():
    (x_train, y_train), (x_val, y_val) = split(IMAGES, LABELS, 0.2, seed=1)
    assert (len(x_train), len(x_val)) == (800, 200)
    assert len(y_train) == 800
    assert len(y_val) == 200


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


def test_a_subset_is_stratified_and_keeps_the_original_order():
    x, y = subset(IMAGES, LABELS, 300, seed=1)
    assert len(x) == 300
    assert np.bincount(y).tolist() == [30] * 10
    positions = [next(i for i, image in enumerate(IMAGES) if np.array_equal(image, row)) for row in x[:20]]
    assert positions == sorted(positions)


def test_no_limit_or_a_large_one_keeps_everything():
    for limit in (None, 1000, 5000):
        x, y = subset(IMAGES, LABELS, limit, seed=1)
        assert x is IMAGES
        assert y is LABELS


def test_flatten_and_scale():
    x = flatten_and_scale(IMAGES)
    assert x.dtype == np.float32
    assert x.shape == (1000, 784)
    assert x.min() >= 0.0
    assert x.max() <= 1.0
    assert x[0, 0] == pytest.approx(IMAGES[0, 0, 0] / 255)
    assert flatten_and_scale(np.full((1, 28, 28), 255, np.uint8)).max() == 1.0


def test_one_hot():
    y = one_hot(np.array([9, 0, 3], dtype=np.uint8))
    assert y.dtype == np.float32
    assert y.shape == (3, 10)
    assert y.sum(axis=1).tolist() == [1.0, 1.0, 1.0]
    assert y.argmax(axis=1).tolist() == [9, 0, 3]


def test_saved_split_has_the_contracted_arrays(tmp_path):
    save_split(tmp_path / "train.npz", IMAGES[:50], LABELS[:50])
    x, y, label = load_split("train", tmp_path)
    assert x.dtype == np.float32
    assert x.shape == (50, 784)
    assert y.dtype == np.float32
    assert y.shape == (50, 10)
    assert label.dtype == np.uint8
    assert label.tolist() == LABELS[:50].tolist()
    assert [p.name for p in tmp_path.iterdir()] == ["train.npz"]


def test_a_corrupt_prepared_file_is_named(tmp_path):
    (tmp_path / "val.npz").write_bytes(b"garbage")
    with pytest.raises(StageError, match=r"val.npz: not a prepared split"):
        load_split("val", tmp_path)
