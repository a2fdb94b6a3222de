"""Fashion-MNIST's four IDX files: what they must be, and reading them with NumPy."""

import gzip
import hashlib
import io
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common import StageError

UBYTE = 0x08
IMAGE_SHAPE = (28, 28)
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20  # what one read inflates: memory per step, not per file


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

    @property
    def shape(self):
        return (self.count, *self.item_shape)

    @property
    def size(self):
        """Bytes of the decompressed file: the header (magic, one size per dimension), then the items."""
        return 4 + 4 * len(self.shape) + math.prod(self.shape)


FASHION_MNIST = {
    "train_images": IdxSpec(
        "train-images-idx3-ubyte.gz",
        60_000,
        IMAGE_SHAPE,
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "train_labels": IdxSpec(
        "train-labels-idx1-ubyte.gz",
        60_000,
        (),
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "test_images": IdxSpec(
        "t10k-images-idx3-ubyte.gz",
        10_000,
        IMAGE_SHAPE,
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "test_labels": IdxSpec(
        "t10k-labels-idx1-ubyte.gz",
        10_000,
        (),
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}


def inflate(gz, limit, origin):
    """Up to `limit` decompressed bytes of `gz` (bytes or a seekable binary file), and whether it holds more.

    It inflates a chunk at a time into one buffer of `limit` + 1 bytes, so a
    file that would decompress to gigabytes costs no more than a genuine one.
    """
    file = io.BytesIO(gz) if isinstance(gz, (bytes, bytearray, memoryview)) else gz
    try:
        if file.read(2) != GZIP_MAGIC:
            raise StageError(f"{origin}: not a gzip file")
        file.seek(0)
        buffer = memoryview(bytearray(limit + 1))
        n = 0
        with gzip.GzipFile(fileobj=file) as stream:
            # Reading to the end of the stream is what checks the CRC and length trailer.
            while n <= limit and (chunk := stream.read(min(CHUNK, limit + 1 - n))):
                buffer[n : n + len(chunk)] = chunk
                n += len(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise StageError(f"{origin}: corrupt or truncated gzip data ({error})") from None
    except OSError as error:
        raise StageError(f"{origin}: cannot read ({error.strerror})") from None
    return buffer[: min(n, limit)], n > limit


def header(raw, origin):
    """An IDX file's header size and the shape it declares."""
    if len(raw) < 4:
        raise StageError(f"{origin}: truncated IDX header ({len(raw)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != UBYTE or ndim == 0:
        raise StageError(f"{origin}: bad IDX magic number 0x{raw[:4].hex()}, expected 0x0000080N (unsigned bytes)")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise StageError(f"{origin}: truncated IDX header ({len(raw)} bytes)")
    return header_size, struct.unpack(f">{ndim}I", raw[4:header_size])


def parse(raw, origin):
    """An IDX file's bytes as a uint8 array of the shape its header gives (a view: no copy)."""
    header_size, shape = header(raw, origin)
    expected_size = header_size + math.prod(shape)
    if len(raw) != expected_size:
        raise StageError(
            f"{origin}: {len(raw)} bytes, expected {expected_size} for shape {shape}"
            + (" (truncated)" if len(raw) < expected_size else "")
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def verify(gz, spec, origin):
    """Check a gzipped file (its bytes or an open binary file) against its spec; return its decoded array.

    The array is a view of the only copy of the decompressed bytes, which are
    never more than the spec's size.
    """
    raw, longer = inflate(gz, spec.size, origin)
    magic = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and magic != spec.magic:
        raise StageError(f"{origin}: IDX magic number {magic:#010x}, expected {spec.magic:#010x}")
    _, shape = header(raw, origin)
    if shape != spec.shape:
        raise StageError(f"{origin}: shape {shape}, expected {spec.shape}")
    if longer:
        raise StageError(
            f"{origin}: more than {spec.size} bytes, expected {spec.size} for shape {shape} "
            "(stopped decompressing there)"
        )
    array = parse(raw, origin)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise StageError(f"{origin}: SHA-256 of the decompressed data is {digest}, expected {spec.sha256}")
    return array


def load(raw_dir, spec):
    path = Path(raw_dir) / spec.name
    try:
        file = open(path, "rb")  # noqa: SIM115 -- opened outside `with`: only open's errors mean "cannot read"
    except OSError as error:
        raise StageError(f"{path}: cannot read ({error.strerror}); run 'dvc repro download'") from None
    with file:
        return verify(file, spec, path)
