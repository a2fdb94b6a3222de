"""A team's DVC remote over SSH, against a real OpenSSH server on 127.0.0.1 (tests/ssh_server.py).

Two clones of one git repository share results through the remote alone: what
one computed, the other restores without running a stage. An interrupted
transfer, retried, completes and leaves no corrupt object in either cache.
"""

import contextlib
import hashlib
import shutil
import subprocess
import sys
import threading
import time

import pytest
from conftest import Project, clone, share
from ssh_server import SSHD, SshServer

pytestmark = pytest.mark.skipif(not SSHD.exists(), reason="no OpenSSH server: apt-get install openssh-server")

MODEL_CHECK = "import sys, keras; [keras.saving.load_model(path) for path in sys.argv[1:]]"


def test_a_second_clone_restores_every_result_and_gets_a_teammates_change_without_training(
    quick_copy, ssh_server, tmp_path
):
    first = quick_copy
    origin = share(first, ssh_server, tmp_path)

    second = clone(origin, tmp_path / "second", first.env, ssh_server)
    second.dvc("pull")
    assert second.stale_stages() == set()
    assert second.repro() == []
    models = sorted(str(path) for path in (second.path / "models").glob("*.keras"))
    assert len(models) == len(list((first.path / "models").glob("*.keras")))
    second.run(sys.executable, "-c", MODEL_CHECK, *models)
    assert second.git("status", "--porcelain").stdout == ""

    # A teammate changes one variant: only that variant retrains, and the first clone gets it by pulling.
    second.set_params(**{"lenet.dropout.dropout": 0.3})
    assert set(second.repro()) == {"train_lenet@dropout", "evaluate_lenet@dropout", "report"}
    second.git("commit", "-q", "-am", "lenet.dropout: rate 0.3")
    second.git("push", "-q", "origin", "HEAD:main")
    second.dvc("push")
    first.git("pull", "-q", "origin", "main")
    first.dvc("pull")
    assert first.stale_stages() == set()
    for path in ("models/lenet-dropout.keras", "reports/metrics/lenet-dropout.json", "reports/report.md"):
        assert (first.path / path).read_bytes() == (second.path / path).read_bytes(), path


def objects(cache):
    """Every file under a DVC cache or remote (`files/md5/xx/...`), by its path relative to `cache`."""
    return {path.relative_to(cache).as_posix(): path for path in cache.rglob("*") if path.is_file()}


def corrupt_or_partial(cache):
    """Files under `cache/files/md5` whose content does not hash to their name; DVC's hidden `.tmp`
    files, which a transfer writes before renaming and DVC never reads as objects, are set apart."""
    bad, temporary = [], []
    for name, path in objects(cache / "files" / "md5").items():
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            temporary.append(name)
        elif hashlib.md5(path.read_bytes()).hexdigest() != name.replace("/", "").removesuffix(".dir"):
            bad.append(name)
    return bad, temporary


def interrupt(server, project, dvc_args, watched, min_bytes=1_000_000, timeout=120):
    """Run `dvc <dvc_args>` in `project` and kill `server` once more than `min_bytes` have landed under `watched`."""
    process = subprocess.Popen(["dvc", *dvc_args], cwd=project.path, env=project.env, stdout=subprocess.PIPE, text=True)
    output = []
    reader = threading.Thread(target=lambda: output.append(process.stdout.read()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while landed(watched) <= min_bytes:
        assert process.poll() is None, f"the transfer ended before it could be interrupted: {output}"
        assert time.monotonic() < deadline, "nothing arrived"
        time.sleep(0.02)
    server.stop()
    assert process.wait(timeout=timeout) != 0


def landed(directory):
    total = 0
    for path in objects(directory).values():
        with contextlib.suppress(FileNotFoundError):  # a temporary file renamed meanwhile
            total += path.stat().st_size
    return total


def test_an_interrupted_push_and_pull_complete_on_retry_with_no_corrupt_object(quick_copy, tmp_path):
    # A server of its own, as it is killed; 8 MB/s, so that the 30 MB of raw data take seconds.
    server = SshServer(tmp_path / "sshd", rate=8_000_000).start()
    try:
        quick_copy.use_remote(server, "interrupted")
        quick_copy.git("commit", "-q", "-am", "the team's DVC remote")
        remote = server.storage / "interrupted"

        interrupt(server, quick_copy, ["push", "--run-cache"], remote)
        bad, temporary = corrupt_or_partial(remote)
        assert bad == []
        server.start()
        quick_copy.dvc("push", "--run-cache")
        assert corrupt_or_partial(remote)[0] == []
        assert quick_copy.dvc("status", "--cloud", "--json").stdout.strip() == "{}"

        puller = Project(tmp_path / "puller", quick_copy.env)
        subprocess.run(["git", "clone", "-q", str(quick_copy.path), str(puller.path)], check=True, timeout=120)
        puller.set_credentials(server)
        cache = puller.path / ".dvc" / "cache"
        interrupt(server, puller, ["pull"], cache)
        assert corrupt_or_partial(cache)[0] == []
        server.start()
        puller.dvc("pull")
        bad, temporary = corrupt_or_partial(cache)
        assert (bad, temporary) == ([], [])
        assert puller.stale_stages() == set()
        assert puller.git("status", "--porcelain").stdout == ""
    finally:
        server.stop()
        shutil.rmtree(tmp_path / "sshd", ignore_errors=True)


def test_a_queued_experiment_is_pushed_then_listed_pulled_and_applied_in_another_clone(
    quick_copy, ssh_server, tmp_path
):
    first, name = quick_copy, "base-lr-0.002"
    origin = share(first, ssh_server, tmp_path)
    first.dvc("exp", "run", "--queue", "train_lenet@base", "-S", "lenet.base.learning_rate=0.002", "-n", name)
    first.dvc("queue", "start")
    first.dvc("queue", "logs", "--follow", name)  # returns when the run ends
    assert name in first.dvc("exp", "list", "--name-only").stdout.split()
    first.dvc("exp", "push", "origin", name)  # the git refs to origin, the outputs to the DVC remote

    second = clone(origin, tmp_path / "second", first.env, ssh_server)
    assert name in second.dvc("exp", "list", "origin", "--name-only").stdout.split()
    second.dvc("exp", "pull", "origin", name)
    second.dvc("exp", "apply", name)
    first.dvc("exp", "apply", name)
    for path in ("params.yaml", "models/lenet-base.keras", "reports/live/lenet-base/metrics.json"):
        assert (second.path / path).read_bytes() == (first.path / path).read_bytes(), path
    assert "learning_rate: 0.002" in (second.path / "params.yaml").read_text()
    assert second.stale_stages() == {"evaluate_lenet@base", "report"}  # the run trained only, as queued


def test_a_model_is_fetched_by_name_from_outside_the_repository(quick_copy, ssh_server, tmp_path):
    """`dvc artifacts get` with the git URL and the model's name (dvc.yaml's artifacts): no clone, no pull.

    DVC fetches an artifact's latest registered version: an annotated git tag in GTO's format, as docs/sharing.md
    gives it."""
    origin = share(quick_copy, ssh_server, tmp_path)
    quick_copy.git("tag", "-a", "lenet-tuned@v1.0.0", "-m", "lenet-tuned of the quick run")
    quick_copy.git("push", "-q", "origin", "lenet-tuned@v1.0.0")
    outside = tmp_path / "service"
    outside.mkdir()
    credentials = [f"{key}={value}" for key, value in ssh_server.dvc_settings().items()]
    fetched = subprocess.run(
        ["dvc", "artifacts", "get", str(origin), "lenet-tuned", "--remote-config", *credentials],
        cwd=outside,
        env=quick_copy.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fetched.returncode == 0, fetched.stderr
    assert sorted(path.name for path in outside.iterdir()) == ["lenet-tuned.keras"]
    assert (outside / "lenet-tuned.keras").read_bytes() == (quick_copy.path / "models/lenet-tuned.keras").read_bytes()
