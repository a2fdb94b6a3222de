"""Wall time and peak RSS of one command and everything it starts."""

import os
import subprocess
import time


def measure(cmd, cwd, env, log_path):
    """Run `cmd` with stdout+stderr to `log_path`; return wall seconds, peak RSS and exit code.

    os.wait4 gives the rusage of this one child, and Linux folds the rusage of every
    descendant it reaped into it: ru_maxrss is then the largest RSS in the whole tree.
    """
    with open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it, so Popen never will
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024, "returncode": proc.returncode}


def log_tail(log_path, lines=15):
    with open(log_path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])
