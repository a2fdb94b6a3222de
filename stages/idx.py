"""Fashion-MNIST's four IDX files: what they must be, and reading them with NumPy."""

import gzip
import hashlib
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common import StageError

UBYTE = 0x08
IMAGE_SHAPE = (28, 28)


@dataclass(frozen=True)
class IdxSpec:
    """One expected file: its name, item count, dimensions and checksum."""

    name: str
    count: int
    item_shape: tuple  # () for labels, IMAGE_SHAPE for images
    sha256: str  # of the decompressed bytes: Debian recompresses the .gz files

    @property
    def magic(self):
        # Two zero bytes, the element type, then the number of dimensions.
        return (UBYTE << 8) | (1 + len(self.item_shape))


FASHION_MNIST = {
    "train_images": IdxSpec(
        "train-images-idx3-ubyte.gz", 60_000, IMAGE_SHAPE,
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "train_labels": IdxSpec(
        "train-labels-idx1-ubyte.gz", 60_000, (),
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "test_images": IdxSpec(
        "t10k-images-idx3-ubyte.gz", 10_000, IMAGE_SHAPE,
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "test_labels": IdxSpec(
        "t10k-labels-idx1-ubyte.gz", 10_000, (),
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}


def decompress(gz_bytes, origin):
    try:
        return gzip.decompress(gz_bytes)
    except gzip.BadGzipFile:
        raise StageError(f"{origin}: not a gzip file") from None
    except (EOFError, zlib.error) as error:
        raise StageError(f"{origin}: corrupt or truncated gzip data ({error})") from None


def parse(raw, origin):
    """An IDX file's bytes as a uint8 array of the shape its header gives."""
    if len(raw) < 4:
        raise StageError(f"{origin}: truncated IDX header ({len(raw)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != UBYTE or ndim == 0:
        raise StageError(f"{origin}: bad IDX magic number 0x{raw[:4].hex()}, expected 0x0000080N (unsigned bytes)")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise StageError(f"{origin}: truncated IDX header ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected_size = header_size + math.prod(shape)
    if len(raw) != expected_size:
        raise StageError(
            f"{origin}: {len(raw)} bytes, expected {expected_size} for shape {shape}"
            + (" (truncated)" if len(raw) < expected_size else "")
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def verify(gz_bytes, spec, origin):
    """Check a downloaded file against its spec; return its decoded array."""
    raw = decompress(gz_bytes, origin)
    magic = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and magic != spec.magic:
        raise StageError(f"{origin}: IDX magic number {magic:#010x}, expected {spec.magic:#010x}")
    array = parse(raw, origin)
    if array.shape != (spec.count, *spec.item_shape):
        raise StageError(f"{origin}: shape {array.shape}, expected {(spec.count, *spec.item_shape)}")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise StageError(f"{origin}: SHA-256 of the decompressed data is {digest}, expected {spec.sha256}")
    return array


def load(raw_dir, spec):
    path = Path(raw_dir) / spec.name
    try:
        gz_bytes = path.read_bytes()
    except OSError as error:
        raise StageError(f"{path}: cannot read ({error.strerror}); run 'dvc repro download'") from None
    return verify(gz_bytes, spec, path)
