"""TensorFlow without its start-up chatter, and why the training stages avoid `model.predict`.

With tensorflow-cpu 2.21 a training stage used to print five lines on stderr:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:... port.cc:153] oneDNN custom operations are on. You may see ...
    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:... port.cc:153] oneDNN custom operations are on. You may see ...
    E0000 00:00:... node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool ...

(A sixth, cpu_feature_guard.cc's INFO line on the CPU instructions TensorFlow
was not built for, is already hidden by TF_CPP_MIN_LOG_LEVEL >= 1.)

The first four come from `import tensorflow`. Two shared libraries,
libtensorflow_framework.so.2 and tensorflow/python/profiler/internal/
_pywrap_profiler_plugin.so, each carry their own copy of absl logging and of
the oneDNN check, and each logs the oneDNN notice (INFO) while it loads, before
anything has initialised absl logging, so absl first warns that such messages
go to stderr. TF_CPP_MIN_LOG_LEVEL does not apply to them (even 3 leaves them);
only TF_ENABLE_ONEDNN_OPTS=0 stops them, and that turns oneDNN off: other
numbers, and LeNet-5 trained about 3x slower here. So `import_tensorflow()`
drops exactly these two lines, and only while TensorFlow is being imported, and
only when TF_CPP_MIN_LOG_LEVEL asks to hide INFO lines anyway (>= 1).

The error line is spurious, TensorFlow's own: with op determinism on, its
tf.data "make_deterministic" rewrite turns a ParallelMapDatasetV2 node into a
MapDataset node but copies the attribute `use_unbounded_threadpool`, which
MapDataset does not have ("Unknown attributes will be ignored"). The rewrite
fires when a function in the input pipeline holds a stateful op it does not
know to be safe. Keras' array input (ArrayDataAdapter) has one as soon as the
data does not split into whole batches: it slices the last, partial batch with
`tf.data.Dataset.from_tensors` inside a flat_map function. `model.predict(x[:1])`
is always such a case, so the training stages use `predict_on_batch`, which
builds no pipeline. With the default params every split divides into whole
batches (48,000 by 32 and 128, 12,000 by 1,000), so no stage logs the line; a
subset or batch size that leaves a partial batch (`data.max_train_samples: 3000`)
brings it back, with absl's first-message warning before it, so `quiet_fit_and_predict()`
drops exactly those two lines around `fit` and `predict`. A hand-built
tf.data pipeline without that op avoids it for any batch size, but gives
batch-norm layers other float rounding (measured: a different LeNet-5
batch-norm model), so the stages keep Keras' own input. The Keras version does
not matter: 3.12.0, 3.13.2 (current when tensorflow 2.21.0 came out) and
3.15.1 build the same pipeline and all print the line.
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
