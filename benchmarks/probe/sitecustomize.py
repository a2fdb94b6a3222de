"""Put on PYTHONPATH during the timed runs: Python imports it at start-up in every process.

A cold run starts all stages in one process tree, so the wrapper around it only sees
the total. Each stage process appends its own start and end (wall clock, so that the
processes of a parallel run can be laid side by side), CPU seconds, peak RSS and
whether it imported TensorFlow to $BENCH_PROBE_LOG.
"""

import os

if os.environ.get("BENCH_PROBE_LOG"):
    import atexit
    import json
    import resource
    import sys
    import time

    _start, _started = time.time(), time.monotonic()

    @atexit.register
    def _record():
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        line = json.dumps(
            {
                "argv": list(getattr(sys, "orig_argv", sys.argv)),
                "start": _start,
                "end": time.time(),
                "wall_s": time.monotonic() - _started,
                "cpu_s": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
                "peak_rss_kib": max(own.ru_maxrss, children.ru_maxrss),
                "tensorflow": "tensorflow" in sys.modules,
            }
        )
        # One short write with O_APPEND: lines of processes that end at the same time never interleave.
        fd = os.open(os.environ["BENCH_PROBE_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
