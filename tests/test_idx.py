import gzip
import hashlib

import numpy as np
import pytest

from conftest import idx_bytes
from stages.common import StageError
from stages.idx import FASHION_MNIST, IdxSpec, parse, verify

IMAGES = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256


def spec_for(raw, count=3, item_shape=(28, 28)):
    return IdxSpec("images.gz", count, item_shape, hashlib.sha256(raw).hexdigest())


def test_a_good_file_decodes_to_its_array():
    raw = idx_bytes(IMAGES)
    array = verify(gzip.compress(raw), spec_for(raw), "images.gz")
    assert array.dtype == np.uint8
    np.testing.assert_array_equal(array, IMAGES)


def test_labels_are_one_dimensional():
    labels = np.array([9, 0, 0, 3])
    raw = idx_bytes(labels)
    array = verify(gzip.compress(raw), spec_for(raw, count=4, item_shape=()), "labels.gz")
    np.testing.assert_array_equal(array, labels)


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda raw: raw[:-100], "truncated"),
        (lambda raw: raw[:6], "truncated IDX header"),
        (lambda raw: b"\x00\x00\x0d\x03" + raw[4:], "IDX magic number 0x00000d03, expected 0x00000803"),
        (lambda raw: b"\x00\x00\x08\x01" + raw[4:], "IDX magic number 0x00000801, expected 0x00000803"),
    ],
    ids=["truncated-data", "truncated-header", "wrong-type-magic", "wrong-dimensions-magic"],
)
def test_malformed_files_are_named_in_the_error(mangle, message):
    raw = idx_bytes(IMAGES)
    with pytest.raises(StageError, match=message) as error:
        verify(gzip.compress(mangle(raw)), spec_for(raw), "images.gz")
    assert str(error.value).startswith("images.gz: ")


def test_wrong_count_is_reported():
    raw = idx_bytes(IMAGES)
    with pytest.raises(StageError, match=r"shape \(3, 28, 28\), expected \(4, 28, 28\)"):
        verify(gzip.compress(raw), spec_for(raw, count=4), "images.gz")


def test_wrong_image_size_is_reported():
    raw = idx_bytes(np.zeros((3, 27, 27)))
    with pytest.raises(StageError, match=r"expected \(3, 28, 28\)"):
        verify(gzip.compress(raw), spec_for(raw), "images.gz")


def test_checksum_mismatch_is_reported():
    raw = idx_bytes(IMAGES)
    tampered = raw[:-1] + bytes([raw[-1] ^ 1])
    with pytest.raises(StageError, match="SHA-256 of the decompressed data is [0-9a-f]{64}, expected"):
        verify(gzip.compress(tampered), spec_for(raw), "images.gz")


def test_a_non_gzip_file_is_reported():
    raw = idx_bytes(IMAGES)
    with pytest.raises(StageError, match="images.gz: not a gzip file"):
        verify(raw, spec_for(raw), "images.gz")


def test_a_truncated_gzip_stream_is_reported():
    raw = idx_bytes(IMAGES)
    with pytest.raises(StageError, match="corrupt or truncated gzip"):
        verify(gzip.compress(raw)[:-20], spec_for(raw), "images.gz")


def test_parse_checks_the_size_against_the_header():
    raw = idx_bytes(IMAGES)
    with pytest.raises(StageError, match="expected 2368 for shape"):
        parse(raw + b"\x00", "images")


def test_fashion_mnist_specs_match_the_files_magic_numbers():
    assert FASHION_MNIST["train_images"].magic == 0x803
    assert FASHION_MNIST["train_labels"].magic == 0x801
    assert {s.count for s in FASHION_MNIST.values()} == {60_000, 10_000}


def test_parse_rejects_a_magic_number_that_is_not_unsigned_bytes():
    raw = idx_bytes(IMAGES)
    with pytest.raises(StageError, match="bad IDX magic number 0x00000d03"):
        parse(b"\x00\x00\x0d\x03" + raw[4:], "images")
