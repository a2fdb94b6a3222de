"""What the benchmarks share: a cold clone of the project, a timed command, the machine it ran on."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ci.overrides import set_params
from stages import kernels

ROOT = Path(__file__).resolve().parents[1]


class StepFailed(Exception):
    pass


def base_env():
    """This venv first on PATH, and none of an outer make's flags: `make pipeline` starts as from a shell."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env


def cold_clone(path, params, env):
    """A clone of the current commit with no dvc.lock and an empty DVC cache, `params` set: every stage will run."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(path)], check=True, timeout=600)
    (path / "dvc.lock").unlink()
    set_params(path / "params.yaml", params)
    git = ["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench"]
    subprocess.run([*git, "commit", "-q", "-am", "benchmark copy"], cwd=path, env=env, check=True, timeout=120)
    return path


def measure(cmd, cwd, env, log_path):
    """Run `cmd` with stdout+stderr to `log_path`; return its start, wall and CPU seconds, peak RSS and exit code.

    os.wait4 gives the rusage of this one child, and Linux folds the rusage of every
    descendant it reaped into it: ru_maxrss is then the largest RSS in the whole tree,
    and the CPU times are the whole tree's.
    """
    with open(log_path, "w") as log:
        started, start = time.time(), time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it, so Popen never will
    return {
        "started": started,  # time.time(), as the probe records: stage times are relative to it
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "returncode": proc.returncode,
    }


def step(cmd, cwd, env, log):
    """measure(), and a StepFailed naming the command and the log's tail when it fails."""
    result = measure(cmd, cwd, env, log)
    if result["returncode"] != 0:
        tail = "".join(Path(log).read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise StepFailed(f"`{' '.join(map(str, cmd))}` in {cwd} exited {result['returncode']}; log {log}:\n{tail}")
    return result


def machine():
    """What the timings depend on: the CPU, whether it has AVX-512 (cpu_isa native would use it), the cores."""
    fields = kernels.cpuinfo()
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name"),
        "cpu_family_model": kernels.cpu_model(fields),  # what decides oneDNN's bits
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),  # what `nproc` counts, hence make pipeline's -P
    }


def pin(isa):
    """Set exactly `isa`'s kernel pin in this process, over what importing `stages` set from params.yaml.

    NumPy, OpenBLAS and oneDNN read the variables when they load: call it before any of them is imported.
    """
    assert "numpy" not in sys.modules, "the pin must be set before NumPy loads"
    for name in kernels.VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(kernels.PINS[isa])


def peak(isa=None):
    """benchmarks/peak.py's figure, measured in a fresh process (its pin must be set before NumPy loads)."""
    isa = isa or kernels.configured_isa(ROOT / "params.yaml") or "avx2"
    cmd = [sys.executable, "-m", "benchmarks.peak", "--cpu-isa", isa]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout)
