"""A gzip bomb given to the download stage: rejected with one line, in bounded memory, from a directory or HTTP."""

import gzip
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from stages.download import DEBIAN_DIR, ENV_VAR
from stages.idx import FASHION_MNIST

ROOT = Path(__file__).resolve().parents[1]
GENUINE_DIR = Path(os.environ.get(ENV_VAR) or DEBIAN_DIR)

BOMB = FASHION_MNIST["test_labels"]  # last to be fetched: the three genuine files before it verify
BOMB_ZEROS = 3 * 2**30  # 3 GiB; the whole file is about 3 MB
PEAK_RSS_LIMIT_MB = 400

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not GENUINE_DIR.is_dir(), reason=f"needs the genuine files: set {ENV_VAR}"),
]


def write_gzip_bomb(path, count, zeros):
    """A valid gzip file of an IDX label header for `count` items, then `zeros` zero bytes.

    Streamed, never held: one MiB of zeros compresses to the same bytes
    each time once a full flush has reset the compressor, so it is compressed
    once and written zeros / 1 MiB times; the CRC still covers every byte.
    """
    header = struct.pack(">HBBI", 0, 0x08, 1, count)
    block = bytes(2**20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: the gzip framing is written by hand
    head = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    body = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH) == body
    crc = zlib.crc32(header)
    for _ in range(zeros // len(block)):
        crc = zlib.crc32(block, crc)
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + head)  # magic, deflate, no flags, no mtime, Unix
        for _ in range(zeros // len(block)):
            f.write(body)
        f.write(deflate.flush() + struct.pack("<II", crc, (len(header) + zeros) % 2**32))


@pytest.fixture(scope="module")
def bomb_dir(tmp_path_factory):
    """The three genuine files and a 3 MB t10k-labels file that inflates to 3 GiB of zeros."""
    directory = tmp_path_factory.mktemp("bomb")
    for spec in FASHION_MNIST.values():
        if spec is not BOMB:
            shutil.copy(GENUINE_DIR / spec.name, directory)
    write_gzip_bomb(directory / BOMB.name, BOMB.count, BOMB_ZEROS)
    return directory


# Runs the command given as arguments and prints its peak RSS in KiB: as the
# only child of this small process, it alone is what RUSAGE_CHILDREN measures.
PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], timeout=120).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_measured(args, cwd, **env):
    """(exit code, stderr lines, peak RSS in MB) of `python args` run in `cwd`."""
    environ = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, sys.executable, *args],
        cwd=cwd,
        env={**environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=150,
    )
    code, peak_kib = map(int, result.stdout.split())
    return code, result.stderr.strip().splitlines(), peak_kib / 1024


def files_under(path):
    return sorted(p.name for p in Path(path).rglob("*") if p.is_file())


def test_the_bomb_is_a_valid_gzip_file(tmp_path):
    path = tmp_path / "bomb.gz"
    write_gzip_bomb(path, 3, 3 * 2**20)
    assert gzip.decompress(path.read_bytes()) == struct.pack(">HBBI", 0, 0x08, 1, 3) + bytes(3 * 2**20)


def test_a_bomb_in_the_data_directory_is_rejected_in_bounded_memory(bomb_dir, tmp_path):
    assert (bomb_dir / BOMB.name).stat().st_size < 4 * 10**6
    code, lines, peak_mb = run_measured(["-m", "stages.download"], tmp_path, FASHION_MNIST_DIR=str(bomb_dir))
    assert code == 1
    assert peak_mb < PEAK_RSS_LIMIT_MB
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"error: FASHION_MNIST_DIR={bomb_dir}: {bomb_dir / BOMB.name}: "
        f"more than {BOMB.size} bytes, expected {BOMB.size} for shape (10000,)"
    ), lines
    assert files_under(tmp_path) == []


def test_a_bomb_from_a_mirror_is_rejected_in_bounded_memory(bomb_dir, tmp_path, http_server):
    url = http_server(bomb_dir)
    script = (
        "import sys; from stages.common import run; from stages.download import HttpSource, download; "
        "run(lambda: download([HttpSource(sys.argv[1])]))"
    )
    code, lines, peak_mb = run_measured(["-c", script, url], tmp_path)
    assert code == 1
    assert peak_mb < PEAK_RSS_LIMIT_MB
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:], lines
    assert f"{url}{BOMB.name}: more than {BOMB.size} bytes, expected {BOMB.size} for shape (10000,)" in lines[-1]
    assert files_under(tmp_path) == []
