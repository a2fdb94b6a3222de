"""download stage: data/raw/ with Fashion-MNIST's four original *-ubyte.gz files, verified.

Sources: $FASHION_MNIST_DIR alone when it is set; otherwise Debian's
dataset-fashion-mnist package directory, then the official mirrors.
"""

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from stages.common import RAW_DIR, StageError, atomic_path, run
from stages.idx import FASHION_MNIST, verify

ENV_VAR = "FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)
HTTP_TIMEOUT_SECONDS = 60
HOW_TO_GET_THE_DATA = (
    f"install Debian's package (apt-get install dataset-fashion-mnist) or set {ENV_VAR} "
    "to a directory holding the four *-ubyte.gz files"
)


class LocalSource:
    def __init__(self, directory):
        self.directory = Path(directory)

    def __str__(self):
        return str(self.directory)

    def location(self, filename):
        return self.directory / filename

    def fetch(self, filename):
        path = self.location(filename)
        try:
            return path.read_bytes()
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

    def fetch(self, filename):
        url = self.location(filename)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raise StageError(f"{url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise StageError(f"{url}: unreachable ({reason})") from None


def default_sources(environ=os.environ):
    """The sources to try, and whether they were named explicitly by the user."""
    if environ.get(ENV_VAR):
        return [LocalSource(environ[ENV_VAR])], True
    return [LocalSource(DEBIAN_DIR), *map(HttpSource, MIRRORS)], False


def fetch_verified(source, specs):
    """All files from one source, each verified, or a StageError for the first bad one."""
    files = {}
    for spec in specs:
        files[spec.name] = source.fetch(spec.name)
        verify(files[spec.name], spec, source.location(spec.name))
    return files


def download(sources, dest=RAW_DIR, specs=FASHION_MNIST.values(), explicit=False, log=sys.stderr):
    """Write the files of the first source whose files all verify into `dest`.

    Nothing is written until every file of a source has verified, so a failure
    leaves `dest` as it was.
    """
    tried = []
    for source in sources:
        try:
            files = fetch_verified(source, specs)
        except StageError as error:
            if explicit:
                raise StageError(f"{ENV_VAR}={source}: {error}. To get the data, {HOW_TO_GET_THE_DATA}") from None
            print(f"download: skipping {source}: {error}", file=log)
            tried.append(f"{source} ({error})")
            continue
        for filename, gz_bytes in files.items():
            with atomic_path(Path(dest) / filename) as tmp:
                tmp.write_bytes(gz_bytes)
        print(f"download: {len(files)} files verified from {source} into {dest}/", file=log)
        return source
    raise StageError(f"no source gave verified Fashion-MNIST files; tried: {'; '.join(tried)}. "
                     f"To get the data, {HOW_TO_GET_THE_DATA}")


def main():
    sources, explicit = default_sources()
    download(sources, explicit=explicit)


if __name__ == "__main__":
    run(main)
