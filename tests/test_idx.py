import gzip
import hashlib
import tracemalloc
import zlib

import numpy as np
import pytest
from conftest import idx_bytes

from stages.common import StageError
from stages.idx import FASHION_MNIST, IdxSpec, load, parse, verify

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
    ("mangle", "message"),
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
    with pytest.raises(StageError, match=r"SHA-256 of the decompressed data is [0-9a-f]{64}, expected"):
        verify(gzip.compress(tampered), spec_for(raw), "images.gz")


def test_a_non_gzip_file_is_reported():
    raw = idx_bytes(IMAGES)
    with pytest.raises(StageError, match=r"images\.gz: not a gzip file"):
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


def test_spec_sizes_are_header_plus_items():
    assert FASHION_MNIST["train_images"].size == 16 + 60_000 * 28 * 28
    assert FASHION_MNIST["test_labels"].size == 8 + 10_000


def zero_bomb(raw_header, zeros):
    """Gzip bytes of a header then `zeros` zero bytes, compressed a MiB at a time."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [deflate.compress(raw_header)]
    parts += [deflate.compress(bytes(2**20)) for _ in range(zeros // 2**20)]
    return b"".join(parts) + deflate.flush()


def test_a_file_that_inflates_past_its_size_is_stopped_early():
    labels = np.zeros(4, dtype=np.uint8)
    raw = idx_bytes(labels)
    bomb = zero_bomb(raw[:8], 64 * 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(StageError) as error:
            verify(bomb, spec_for(raw, count=4, item_shape=()), "labels.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(error.value) == (
        "labels.gz: more than 12 bytes, expected 12 for shape (4,) (stopped decompressing there)"
    )
    assert peak < 4 * 2**20  # of the 64 MiB it would inflate to: a few buffers at most


def test_a_header_declaring_more_items_is_reported_as_the_wrong_shape():
    raw = idx_bytes(np.arange(5))
    with pytest.raises(StageError, match=r"labels.gz: shape \(5,\), expected \(4,\)"):
        verify(gzip.compress(raw), spec_for(raw, count=4, item_shape=()), "labels.gz")


def test_a_crc_mismatch_is_reported_as_corrupt():
    raw = idx_bytes(IMAGES)
    data = bytearray(gzip.compress(raw))
    data[-8] ^= 0xFF  # the trailer's CRC-32
    with pytest.raises(StageError, match=r"images\.gz: corrupt or truncated gzip data .*CRC"):
        verify(bytes(data), spec_for(raw), "images.gz")


def test_garbage_after_the_gzip_stream_is_reported():
    raw = idx_bytes(IMAGES)
    with pytest.raises(StageError, match=r"images\.gz: corrupt or truncated gzip data"):
        verify(gzip.compress(raw) + b"trailing", spec_for(raw), "images.gz")


def test_load_reads_a_file_and_names_a_missing_one(tmp_path):
    raw = idx_bytes(IMAGES)
    spec = spec_for(raw)
    (tmp_path / spec.name).write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(load(tmp_path, spec), IMAGES)
    with pytest.raises(StageError, match=f"{tmp_path / 'nowhere' / spec.name}: cannot read .*dvc repro download"):
        load(tmp_path / "nowhere", spec)
