"""Shared fixtures and helpers: tiny IDX files, a local HTTP server, a throwaway copy of the project, a remote.

Tests that need the real data, the quick pipeline or an SSH server are marked `integration`
(pytest_collection_modifyitems below); `make test-quick` runs the others (docs/development.md#tests).
"""

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
import uuid
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from ssh_server import ENV_VAR as SSH_ENV_VAR
from ssh_server import INSTALL_HINT, SSHD, SshServer

from ci.overrides import quick_params, set_params
from stages import params
from stages.download import DEBIAN_DIR, ENV_VAR
from stages.idx import IdxSpec
from stages.pricing import SWEEPS_DIR
from stages.report import SCHEDULE_STUDY_FILE, SWEEP_FILE

ROOT = Path(__file__).resolve().parents[1]
PARAMS = params.load(ROOT / "params.yaml")
# The stages before any model: what the data tests reproduce, and what README's walkthrough finds done.
DATA_STAGES = ("download", "preprocess", "scratch_backprop", "plot_samples")
# A test that uses one of these fixtures needs the data, the quick pipeline or an SSH server.
INTEGRATION_FIXTURES = {"small_data", "quick_project", "quick_copy", "ssh_server"}


def pytest_collection_modifyitems(items):
    integration = pytest.mark.integration
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(integration)


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


OUTPUT_DIRS = ("data/", "models/", "reports/", "reference/runs/")
# The reference study's record of its runs: a copy starts without it, as it starts without the pipeline's.
# Its summary stays: the report stage reads it.
REFERENCE_RESULTS = ("reference/dvc.lock",)
# Committed by hand (docs/tuning.md); the report stage reads them.
INPUTS_AMONG_OUTPUTS = (SWEEP_FILE.as_posix(), SCHEDULE_STUDY_FILE.as_posix(), SWEEPS_DIR.as_posix() + "/")


def copied_files():
    """The files git would see, minus anything a previous run produced.

    The working tree holds outputs of earlier runs (cache: false outs are not git-ignored)
    and dvc.lock: copied, they would make stages look up to date and a repro would not be cold.
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split("\0")
    return [
        f
        for f in listed
        if f
        and (ROOT / f).is_file()
        and f != "dvc.lock"
        and f not in REFERENCE_RESULTS
        and not f.startswith("benchmarks/")
        and not (f.startswith(OUTPUT_DIRS) and not f.endswith(".gitignore") and not f.startswith(INPUTS_AMONG_OUTPUTS))
    ]


def make_copy(path, params, env):
    """Copy the working tree's sources into `path`, apply dotted-key params, commit: ready for `dvc repro`."""
    path.mkdir(parents=True)
    for name in copied_files():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    if params:
        set_params(path / "params.yaml", params)
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "test@example.invalid"],
        ["config", "user.name", "test"],
        ["add", "-A"],
        ["commit", "-q", "-m", "project copy"],
    ):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True, timeout=120)
    return path


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


QUICK_PARAMS = quick_params(PARAMS)


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


def share(project, server, tmp_path):
    """Publish `project` as a team would: a bare git repository as `origin`, a DVC remote of its own on
    `server` (the URL committed in .dvc/config, the credentials in config.local), every output and stage
    run pushed to it. Returns origin's path."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True, timeout=60)
    project.use_remote(server, uuid.uuid4().hex)
    project.git("add", ".dvc/config")
    project.git("commit", "-q", "-m", "the team's DVC remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "HEAD:main")
    project.dvc("push", "--run-cache")
    return origin


def clone(origin, path, env, server):
    subprocess.run(["git", "clone", "-q", "-b", "main", str(origin), str(path)], check=True, timeout=120)
    project = Project(path, env)
    project.set_credentials(server)
    return project


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
