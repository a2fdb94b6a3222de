"""Shared fixtures: tiny IDX files, a local HTTP server, and a throwaway copy of the project."""

import functools
import gzip
import http.server
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from ssh_server import ENV_VAR as SSH_ENV_VAR
from ssh_server import INSTALL_HINT, SSHD, SshServer

from benchmarks.project import make_copy, set_params
from stages import params
from stages.download import DEBIAN_DIR, ENV_VAR
from stages.idx import IdxSpec

ROOT = Path(__file__).resolve().parents[1]
PARAMS = params.load(ROOT / "params.yaml")


def data_dir():
    """Where the real data is: $FASHION_MNIST_DIR, else Debian's package, as the download stage looks."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEBIAN_DIR if DEBIAN_DIR.is_dir() else None


DATA_DIR = data_dir()
needs_data = pytest.mark.skipif(
    DATA_DIR is None, reason=f"no Fashion-MNIST files: set {ENV_VAR} or apt-get install dataset-fashion-mnist"
)


def idx_bytes(array):
    """An uint8 array in IDX format, uncompressed."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def tiny_dataset(n_train=20, n_test=10, seed=0):
    """Four small gzipped IDX files and the specs that describe them."""
    import hashlib

    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test) % 10,
    }
    files, specs = {}, []
    for name, array in arrays.items():
        raw = idx_bytes(array)
        files[name] = gzip.compress(raw, mtime=0)
        specs.append(IdxSpec(name, len(array), array.shape[1:], hashlib.sha256(raw).hexdigest()))
    return files, specs


@pytest.fixture
def tiny_files(tmp_path):
    """(directory holding the four tiny files, their specs)."""
    files, specs = tiny_dataset()
    directory = tmp_path / "source"
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory, specs


@pytest.fixture
def http_server():
    """Start servers on 127.0.0.1 serving a directory; yields start(directory) -> base URL."""
    servers = []

    def start(directory):
        handler = functools.partial(QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# --- the project in a temporary git repository ------------------------------


def venv_env(**extra):
    """The environment for running dvc and the stages from this interpreter's venv."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("FASHION_MNIST_DIR", None)
    env.update(extra)
    return env


class Project:
    """A copy of the project in its own git repository, with helpers to drive dvc."""

    def __init__(self, path, env):
        self.path = Path(path)
        self.env = env

    def run(self, *args, check=True, timeout=900):
        result = subprocess.run(args, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args, check=True):
        return self.run("dvc", *args, check=check)

    def git(self, *args):
        return self.run("git", *args)

    def repro(self, *targets):
        """Run `dvc repro` and return the names of the stages that ran."""
        output = self.dvc("repro", *targets).stdout
        return ran_stages(output)

    def make_pipeline(self):
        """Run the pipeline the way `make repro` does (its stages side by side) and return the stages that ran."""
        result = self.run("make", "-s", "pipeline")
        return ran_stages(result.stdout + result.stderr)

    def use_remote(self, server, storage):
        """Make `storage` on `server` the default DVC remote, as a teammate would: the URL in .dvc/config
        (committed), the user and key in .dvc/config.local (`dvc remote modify --local`, kept out of git)."""
        self.dvc("remote", "add", "--force", "--default", "team", server.url(storage))
        self.set_credentials(server)

    def set_credentials(self, server):
        for key, value in server.dvc_settings().items():
            self.dvc("remote", "modify", "--local", "team", key, value)

    def set_params(self, **dotted):
        set_params(self.path / "params.yaml", dotted)

    def stale_stages(self):
        """The stages `dvc status` says are out of date: what `dvc repro` would run first."""
        return set(json.loads(self.dvc("status", "--json").stdout))


def ran_stages(repro_output):
    """Stage names from `dvc repro` output lines such as "Running stage 'preprocess':"."""
    prefix = "Running stage '"
    return [
        line[len(prefix) : line.index("'", len(prefix))]
        for line in repro_output.splitlines()
        if line.startswith(prefix)
    ]


def make_project(path, **changes):
    """A committed copy of the project's sources in `path`, with params set: ready for `dvc repro`."""
    if DATA_DIR is None:
        pytest.skip(f"no Fashion-MNIST files: set {ENV_VAR} or apt-get install dataset-fashion-mnist")
    project = Project(path, venv_env(FASHION_MNIST_DIR=str(DATA_DIR)))
    make_copy(path, changes, project.env)
    return project


def quick_params():
    """Small enough for CI, large enough that every stage does real work: every variant params.yaml defines."""
    # 1,024 and 1,000: whole batches of 32, 128 and 1,000, as the full data has (see stages/quiet_tf.py)
    quick = {
        "data.max_train_samples": 1024,
        "data.max_val_samples": 1000,
        "data.max_test_samples": 500,
        "mlp.epochs": 2,
    }
    for variant, config in PARAMS["lenet"].items():
        quick[f"lenet.{variant}.epochs"] = 1
        if config["schedule"]["kind"] == "cosine":
            quick[f"lenet.{variant}.schedule.warmup_epochs"] = 0
    return quick


QUICK_PARAMS = quick_params()


@pytest.fixture(scope="session")
def quick_project(tmp_path_factory):
    """The whole pipeline reproduced once on quick params, as `make repro` runs it, its results committed.

    Built once for the whole run, whichever pytest-xdist worker asks first; the others wait on a
    file lock and then share it. Tests must not change it: quick_copy gives a private copy.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the directory all workers' temp directories live in
    path, ran_file = shared / "quick" / "project", shared / "quick" / "ran.json"
    with FileLock(str(shared / "quick.lock")):
        if not ran_file.exists():
            if path.exists():  # a worker failed half-way: start again
                shutil.rmtree(path.parent)
            project = make_project(path, **QUICK_PARAMS)
            ran = project.make_pipeline()  # in parallel arms: tests below check its locks and bytes
            project.git("add", "-A")
            project.git("commit", "-q", "-m", "quick run")
            ran_file.write_text(json.dumps(ran))
    project = Project(path, venv_env(FASHION_MNIST_DIR=str(DATA_DIR)))
    project.ran = json.loads(ran_file.read_text())
    return project


def _without_dvc_tmp(root):
    """copytree's ignore: DVC's lock and index files under .dvc/tmp belong to the original's processes."""

    def ignore(directory, names):
        return ["tmp"] if Path(directory) == root / ".dvc" else []

    return ignore


@pytest.fixture
def quick_copy(quick_project, tmp_path):
    """A private copy of the reproduced project (git history and DVC cache included) to change."""
    path = tmp_path / "copy"
    shutil.copytree(quick_project.path, path, symlinks=True, ignore=_without_dvc_tmp(quick_project.path))
    return Project(path, quick_project.env)


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory):
    """The OpenSSH server .ci/run started (named by $DVC_TEST_SSH), else one of this session's own."""
    if os.environ.get(SSH_ENV_VAR):
        yield SshServer.attach(os.environ[SSH_ENV_VAR])
        return
    if not SSHD.exists():
        pytest.skip(f"no OpenSSH server for the remote tests: {INSTALL_HINT}")
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def small_data():
    """The first 3,000 development images for training, the last 1,000 for validation."""
    from stages import idx
    from stages.preprocess import flatten_and_scale, one_hot

    if DATA_DIR is None:
        pytest.skip(f"no Fashion-MNIST files: set {ENV_VAR} or apt-get install dataset-fashion-mnist")
    images = idx.load(DATA_DIR, idx.FASHION_MNIST["train_images"])
    labels = idx.load(DATA_DIR, idx.FASHION_MNIST["train_labels"])
    x, y = flatten_and_scale(images), one_hot(labels)
    return (x[:3000], y[:3000]), (x[-1000:], y[-1000:])


def as_images(data):
    """small_data shaped for LeNet-5."""
    from stages.networks import IMAGE_SHAPE

    (x_train, y_train), (x_val, y_val) = data
    return (x_train.reshape(-1, *IMAGE_SHAPE), y_train), (x_val.reshape(-1, *IMAGE_SHAPE), y_val)
