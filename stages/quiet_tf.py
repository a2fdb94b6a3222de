"""TensorFlow without its spurious start-up and tf.data lines, and why the stages avoid `model.predict`.

Importing TensorFlow logs oneDNN's notice twice, each after absl's "before InitializeLog" warning:
two of its libraries carry their own absl and oneDNN check. TF_CPP_MIN_LOG_LEVEL does not reach
them, and TF_ENABLE_ONEDNN_OPTS=0 would turn oneDNN off (other numbers, LeNet-5 about 3x slower).
So `import_tensorflow()` drops exactly those lines while TensorFlow loads, when
TF_CPP_MIN_LOG_LEVEL >= 1 hides INFO lines anyway.

Under op determinism, tf.data's deterministic rewrite logs a spurious error ("NodeDef mentions
attribute use_unbounded_threadpool") whenever Keras' array input slices a partial last batch.
`predict_on_batch` builds no input pipeline, so the stages' one-image probe uses it; the full
splits divide into whole batches; for a subset or batch size that does not, `quiet_fit_and_predict()`
drops exactly that line and absl's warning before it. A hand-built tf.data pipeline would avoid it
but gives batch-norm layers other rounding (another model), so the stages keep Keras' own input.
"""

import contextlib
import os
import subprocess
import sys

# The two start-up lines, matched whole; nothing else is dropped.
STARTUP_NOTICES = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [0-9:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\. "
    r"You may see slightly different numerical results due to floating-point round-off errors "
    r"from different computation orders\. To turn them off, set the environment variable "
    r"`TF_ENABLE_ONEDNN_OPTS=0`\."
)

# The spurious tf.data error (module docstring), matched whole, and absl's warning that precedes
# the first line a process logs.
SPURIOUS_DATASET_ERROR = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|E\d{4} [0-9:.]+ +\d+ node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool "
    r"which is not in the op definition: Op<name=MapDataset;.*NodeDef: \{\{node ParallelMapDatasetV2/_\d+\}\}"
)

# Runs in a separate process, so that whatever TensorFlow writes before a hard
# crash (an abort, an illegal instruction) still reaches the real stderr.
_FILTER = """
import re, sys
drop = re.compile(sys.argv[1].encode())
for line in sys.stdin.buffer:
    if not drop.fullmatch(line.rstrip(b"\\r\\n")):
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
"""


def min_log_level():
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def import_tensorflow():
    """Import and return TensorFlow, without the start-up notices TF_CPP_MIN_LOG_LEVEL misses.

    Call it before the first `import keras` or `import tensorflow` of the
    process (Keras imports TensorFlow); later calls just return the module.
    Everything else TensorFlow writes to stderr while loading passes through.
    """
    if "tensorflow" in sys.modules or min_log_level() < 1:
        import tensorflow

        return tensorflow
    with stderr_without(STARTUP_NOTICES):
        import tensorflow
    return tensorflow


class stderr_without:
    """Within the block, drop the stderr lines that fully match `pattern` (a regex).

    Works on file descriptor 2, so it sees what C++ code writes too. The lines
    go through a pipe to a small filtering process that writes the rest to
    the original stderr; leaving the block waits until it has written them all.
    """

    def __init__(self, pattern):
        self.pattern = pattern
        self.saved = self.child = None

    def __enter__(self):
        sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr to filter
            return self
        read_end, write_end = os.pipe()
        try:
            child = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _FILTER, self.pattern], stdin=read_end, stdout=saved, stderr=saved
            )
        except OSError:
            os.close(write_end)
            os.close(saved)
            return self
        finally:
            os.close(read_end)
        os.dup2(write_end, 2)
        os.close(write_end)
        self.saved, self.child = saved, child
        return self

    def __exit__(self, *exc):
        if self.saved is None:
            return
        sys.stderr.flush()
        os.dup2(self.saved, 2)  # closes our last write end: the filter reads to the end and exits
        os.close(self.saved)
        self.saved = None
        with contextlib.suppress(subprocess.TimeoutExpired):  # a process we started still holds the pipe: let it be
            self.child.wait(timeout=30)


def quiet_fit_and_predict():
    """Around `model.fit` or `model.predict`: without the spurious tf.data error (module docstring).

    Only when TF_CPP_MIN_LOG_LEVEL hides INFO lines (the stages' default): with 0 the user asked for everything.
    """
    return stderr_without(SPURIOUS_DATASET_ERROR) if min_log_level() >= 1 else contextlib.nullcontext()
