"""Wall time, CPU time and peak RSS of one command and everything it starts; the machine they ran on."""

import os
import subprocess
import time


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


def log_tail(log_path, lines=15):
    with open(log_path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def machine():
    """What the timings depend on: the CPU, whether it has AVX-512 (cpu_isa native would use it), the cores."""
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {
        "cpu_model": model,
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),  # what `nproc` counts, hence make pipeline's -P
    }
