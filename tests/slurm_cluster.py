"""A throwaway single-node SLURM cluster on localhost: the engine of tests/test_study.py's array job, for real.

Debian's slurm-wlm: munged (SLURM's authentication), slurmctld (the controller) and slurmd
(the one compute node), each with its own configuration, key, sockets, state and logs in one
directory, on free ports, as root or not. Clients find it through the environment `env()` gives
(SLURM_CONF). Standard library only, as tests/ssh_server.py.
"""

import contextlib
import getpass
import os
import signal
import subprocess
import time
from pathlib import Path

from ssh_server import free_port

DAEMONS = {
    "munged": Path("/usr/sbin/munged"),
    "slurmctld": Path("/usr/sbin/slurmctld"),
    "slurmd": Path("/usr/sbin/slurmd"),
}
INSTALL_HINT = "apt-get install slurmctld slurmd slurm-client munge"

CONFIG = """\
ClusterName=test
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge.socket
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
# No cgroups in a container: processes tracked by their parents, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def installed():
    return all(path.exists() for path in DAEMONS.values())


class SlurmCluster:
    def __init__(self, directory, cpus=None):
        self.dir = Path(directory).resolve()
        self.conf = self.dir / "slurm.conf"
        self.cpus = cpus or len(os.sched_getaffinity(0))
        self.processes = []

    def env(self, base=None):
        """An environment whose SLURM commands talk to this cluster."""
        return {**(base if base is not None else os.environ), "SLURM_CONF": str(self.conf)}

    def prepare(self):
        for name in ("state", "spool"):
            (self.dir / name).mkdir(parents=True, exist_ok=True)
        key = self.dir / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            key.chmod(0o600)
        self.conf.write_text(
            CONFIG.format(
                dir=self.dir, ctld_port=free_port(), slurmd_port=free_port(), user=getpass.getuser(), cpus=self.cpus
            )
        )

    def start(self, timeout=60):
        if not installed():
            raise RuntimeError(f"SLURM or munge not installed: {INSTALL_HINT}")
        self.prepare()
        env = self.env()
        self._daemon(
            "munged",
            "--foreground",
            "--force",
            f"--key-file={self.dir / 'munge.key'}",
            f"--socket={self.dir / 'munge.socket'}",
            f"--pid-file={self.dir / 'munged.pid'}",
            f"--log-file={self.dir / 'munged.log'}",
            f"--seed-file={self.dir / 'munged.seed'}",
        )
        self._wait(lambda: (self.dir / "munge.socket").exists(), timeout, "munged")
        self._daemon("slurmctld", "-D", "-i", "-f", str(self.conf), env=env)
        self._daemon("slurmd", "-D", "-N", "localhost", "-f", str(self.conf), env=env)
        self._wait(self._node_idle, timeout, "the node")
        return self

    def _daemon(self, name, *args, env=None):
        log = open(self.dir / f"{name}.out", "ab")  # noqa: SIM115 - the daemon outlives this call
        self.processes.append(
            subprocess.Popen([str(DAEMONS[name]), *args], stdout=log, stderr=log, env=env, start_new_session=True)
        )

    def _node_idle(self):
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t"], env=self.env(), capture_output=True, text=True, timeout=30
        )
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def _wait(self, ready, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited ({process.returncode}): {self.logs()}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} not ready within {timeout} s: {self.logs()}")

    def logs(self):
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}" for path in sorted(self.dir.glob("*.log"))
        )

    def stop(self):
        """slurmd first (its job steps with it), then the controller, then munged."""
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        self.processes = []
