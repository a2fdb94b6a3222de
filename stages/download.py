"""download stage: data/raw/ with Fashion-MNIST's four original *-ubyte.gz files, verified.

Sources: $FASHION_MNIST_DIR alone when it is set; otherwise Debian's
dataset-fashion-mnist package directory, then the official mirrors.
Whatever a source sends, the stage holds at most one file's decompressed
bytes in memory: files stream to disk, then inflate with a bound (idx.inflate).
"""

import contextlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from stages.common import RAW_DIR, StageError, atomic_path, run
from stages.idx import CHUNK, FASHION_MNIST, verify

ENV_VAR = "FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)
HTTP_TIMEOUT_SECONDS = 60  # per connection attempt and per read, not for the whole file
HOW_TO_GET_THE_DATA = (
    f"install Debian's package (apt-get install dataset-fashion-mnist) or set {ENV_VAR} "
    "to a directory holding the four *-ubyte.gz files"
)


def size_cap(specs):
    """The most compressed bytes taken for any one file.

    Deflate adds a few bytes per 64 KiB at worst, so no genuine file is larger
    than the largest decompressed one; twice that is generous. It bounds disk
    and time only: memory is bounded by streaming.
    """
    return 2 * max(spec.size for spec in specs)


def copy_capped(read, out, limit, origin, bar=None):
    """Copy read(size)'s chunks into `out`, refusing more than `limit` bytes; return the count."""
    n = 0
    while chunk := read(min(CHUNK, limit + 1 - n)):
        n += len(chunk)
        if n > limit:
            raise StageError(f"{origin}: more than {limit} bytes, cut off there (no genuine file is that large)")
        try:
            out.write(chunk)
        except OSError as error:
            raise StageError(f"{out.name}: cannot write ({error.strerror})") from None
        if bar is not None:
            bar.update(len(chunk))
    return n


class LogLines(tqdm):
    """tqdm printing whole lines instead of redrawing one, for logs that are not a terminal.

    With `miniters` a quarter of the file, that is a few lines a file.
    """

    def display(self, msg=None, pos=None):
        if msg is None:  # tqdm passes "" to erase the bar; a log keeps its lines
            print(self, file=self.fp, flush=True)
            self.shown = self.n
        return msg is None

    def close(self):
        if not self.disable and getattr(self, "shown", None) != self.n:
            self.refresh()  # the final count, which update() may have skipped
        super().close()


def progress_bar(filename, total, limit, log):
    """A progress bar for one download: redrawn on a terminal, a few lines a file in a log."""
    options = {
        "desc": f"download: {filename}",
        "total": total,
        "file": log,
        "unit": "B",
        "unit_scale": True,
        "unit_divisor": 1024,
    }
    if getattr(log, "isatty", lambda: False)():
        return tqdm(**options)
    # maxinterval=inf keeps tqdm's monitor thread from switching to a line per read.
    return LogLines(
        **options,
        leave=False,
        ascii=True,
        mininterval=1.0,
        miniters=max(1, (total or limit) // 4),
        maxinterval=float("inf"),
    )


class LocalSource:
    def __init__(self, directory):
        self.directory = Path(directory)

    def __str__(self):
        return str(self.directory)

    def location(self, filename):
        return self.directory / filename

    def fetch(self, filename, out, limit, log):
        """Copy the file into the binary file `out`, at most `limit` bytes."""
        path = self.location(filename)
        try:
            with open(path, "rb") as file:
                copy_capped(file.read, out, limit, path)
        except OSError as error:
            raise StageError(f"{path}: cannot read ({error.strerror})") from None


class HttpSource:
    def __init__(self, base_url, timeout=HTTP_TIMEOUT_SECONDS):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout

    def __str__(self):
        return self.base_url

    def location(self, filename):
        return self.base_url + filename

    def fetch(self, filename, out, limit, log):
        """Stream the file into the binary file `out`, at most `limit` bytes, showing progress on `log`."""
        url = self.location(filename)
        try:
            # urlopen's default TLS context verifies certificates and host names.
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                # http.client drops a malformed Content-Length (length None): the cap still holds.
                length = response.length
                if length is not None and length > limit:
                    raise StageError(f"{url}: Content-Length {length} is more than the {limit} bytes allowed")
                with progress_bar(filename, length, limit, log) as bar:
                    # read1 returns what has arrived rather than waiting for a full chunk: steadier progress.
                    n = copy_capped(response.read1, out, limit, url, bar)
                if length is not None and n != length:
                    raise StageError(f"{url}: {n} bytes received, Content-Length announced {length}")
        except urllib.error.HTTPError as error:
            raise StageError(f"{url}: HTTP {error.code} {error.reason}") from None
        except TimeoutError:
            raise StageError(f"{url}: no data for {self.timeout} s, gave up") from None
        except http.client.HTTPException as error:
            raise StageError(f"{url}: broken HTTP response ({error!r})") from None
        except urllib.error.URLError as error:
            raise StageError(f"{url}: unreachable ({error.reason})") from None
        except OSError as error:
            raise StageError(f"{url}: connection lost ({error})") from None


def default_sources(environ=os.environ):
    """The sources to try, and whether they were named explicitly by the user."""
    if environ.get(ENV_VAR):
        return [LocalSource(environ[ENV_VAR])], True
    return [LocalSource(DEBIAN_DIR), *map(HttpSource, MIRRORS)], False


def fetch_verified(source, specs, dest, log):
    """Fetch all files from one source into `dest`, or none: a StageError names the first bad one.

    Each file streams into a temporary file beside its destination and is
    verified there; all get their real names only once every one has verified.
    """
    limit = size_cap(specs)
    with contextlib.ExitStack() as staged:  # on leaving: every rename, or on an error every deletion
        for spec in specs:
            tmp = staged.enter_context(atomic_path(dest / spec.name))
            with open(tmp, "r+b") as file:
                source.fetch(spec.name, file, limit, log)
                file.seek(0)
                verify(file, spec, source.location(spec.name))


def download(sources, dest=RAW_DIR, specs=None, explicit=False, log=sys.stderr):
    """Write the files of the first source whose files all verify into `dest`.

    Nothing gets its final name in `dest` until every file of a source has
    verified, so a failure leaves `dest` as it was.
    """
    dest, specs = Path(dest), list(FASHION_MNIST.values() if specs is None else specs)
    created = not dest.exists()
    tried = []
    for source in sources:
        try:
            fetch_verified(source, specs, dest, log)
        except StageError as error:
            if created:
                with contextlib.suppress(OSError):
                    dest.rmdir()  # atomic_path made it; leave no trace of a failed source
            if explicit:
                raise StageError(f"{ENV_VAR}={source}: {error}. To get the data, {HOW_TO_GET_THE_DATA}") from None
            print(f"download: skipping {source}: {error}", file=log)
            tried.append(f"{source} ({error})")
            continue
        print(f"download: {len(specs)} files verified from {source} into {dest}/", file=log)
        return source
    raise StageError(
        f"no source gave verified Fashion-MNIST files; tried: {'; '.join(tried)}. "
        f"To get the data, {HOW_TO_GET_THE_DATA}"
    )


def main():
    sources, explicit = default_sources()
    download(sources, explicit=explicit)


if __name__ == "__main__":
    run(main)
