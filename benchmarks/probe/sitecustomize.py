"""Put on PYTHONPATH during the timed `dvc repro`: Python imports it at start-up in every process.

A single cold `dvc repro` runs all stages in one process tree, so the wrapper around it
only sees the total. Each stage process appends its own wall time, peak RSS and whether
it imported TensorFlow to $BENCH_PROBE_LOG, which splits the total per stage and leaves
dvc's own overhead as the remainder.
"""

import os

if os.environ.get("BENCH_PROBE_LOG"):
    import atexit
    import json
    import resource
    import sys
    import time

    _started = time.monotonic()

    @atexit.register
    def _record():
        usage = max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        )
        line = json.dumps(
            {
                "argv": list(getattr(sys, "orig_argv", sys.argv)),
                "wall_s": time.monotonic() - _started,
                "peak_rss_kib": usage,
                "tensorflow": "tensorflow" in sys.modules,
            }
        )
        # One short write in append mode: lines from sequential stages never interleave.
        with open(os.environ["BENCH_PROBE_LOG"], "a") as f:
            f.write(line + "\n")
