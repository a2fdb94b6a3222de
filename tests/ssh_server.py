"""A throwaway OpenSSH server on 127.0.0.1: the networked DVC remote of tests/test_remote*.py, for real.

Debian's sshd with its own config, host key and client key in one directory,
serving files over SFTP, as a team's shared storage server does. dvc-ssh
reaches it like any other: `ssh://127.0.0.1:<port>/<path>`, a user and a key.

    python tests/ssh_server.py start DIR   # what .ci/run does: start one, print `export DVC_TEST_SSH=DIR`

The tests use the server named by $DVC_TEST_SSH, or start their own; the test
that kills a server in the middle of a transfer always starts its own, with
`rate` set, which puts the SFTP subsystem behind tests/slow_link.py so that a
transfer lasts long enough to be interrupted. Standard library only, so that
.ci/run can start it before the venv exists.
"""

import contextlib
import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")  # Debian's openssh-server
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
SLOW_LINK = Path(__file__).with_name("slow_link.py")
ENV_VAR = "DVC_TEST_SSH"
INSTALL_HINT = "apt-get install openssh-server"

CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {dir}/host_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
# The key files are the test's own, in a temporary directory: not sshd's business to police their modes.
StrictModes no
# DVC opens several SFTP sessions at once, over a few connections.
MaxSessions 64
MaxStartups 64
LogLevel ERROR
Subsystem sftp {sftp}
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SshServer:
    """One sshd, its keys, and a storage root; `start()` and `stop()` may be repeated on the same port."""

    def __init__(self, directory, rate=None):
        self.dir = Path(directory).resolve()
        self.storage = self.dir / "storage"
        self.key = self.dir / "client_key"
        self.user = getpass.getuser()
        self.port = free_port()
        self.rate = rate
        self.process = None

    def url(self, name):
        """A remote URL for `name`, a directory of its own under the storage root."""
        return f"ssh://127.0.0.1:{self.port}{self.storage / name}"

    def dvc_settings(self):
        """What `dvc remote modify --local` needs besides the URL: kept out of git, as credentials are."""
        return {"user": self.user, "keyfile": str(self.key)}

    def prepare(self):
        if not SSHD.exists():
            raise RuntimeError(f"{SSHD} not found: {INSTALL_HINT}")
        self.storage.mkdir(parents=True, exist_ok=True)
        for key in ("host_key", "client_key"):
            if not (self.dir / key).exists():
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", str(self.dir / key)],
                    check=True,
                    timeout=30,
                )
        (self.dir / "authorized_keys").write_text((self.dir / "client_key.pub").read_text())
        sftp = f"{SFTP_SERVER}" if self.rate is None else f"{sys.executable} {SLOW_LINK} {self.rate} {SFTP_SERVER}"
        (self.dir / "sshd_config").write_text(CONFIG.format(port=self.port, dir=self.dir, sftp=sftp))
        if os.geteuid() == 0:  # root's sshd separates privileges into this directory, which a container may lack
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def start(self, timeout=20):
        self.prepare()
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(self.dir / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "sshd.log", "ab"),  # noqa: SIM115 - the server outlives this call
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited ({self.process.returncode}): {(self.dir / 'sshd.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    if connection.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not answer on port {self.port} within {timeout} s")

    def stop(self):
        """Kill the server and every session it forked (SFTP servers included), as a crash would."""
        if self.process is None:
            return
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def record(self):
        return {"dir": str(self.dir), "port": self.port, "user": self.user}

    @classmethod
    def attach(cls, directory):
        """The server `start` (the command) left running in `directory`."""
        record = json.loads((Path(directory) / "server.json").read_text())
        server = cls(record["dir"])
        server.port, server.user = record["port"], record["user"]
        return server


def descendants(pid):
    """Every process below `pid`, from /proc: sshd forks a process per connection and per session."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "start":
        sys.exit("usage: python tests/ssh_server.py start DIR")
    directory = Path(sys.argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    server = SshServer(directory).start()
    (directory / "server.json").write_text(json.dumps(server.record()))
    print(f"export {ENV_VAR}={server.dir}")


if __name__ == "__main__":
    main()
