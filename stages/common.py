"""What every stage shares: the class names, data paths, atomic writes, one-line errors."""

import contextlib
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

# TensorFlow's C++ INFO lines would bury the stages' own output; its warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

# Where the stages write: each path is named here once, and in dvc.yaml, which declares it.
RAW_DIR = Path("data/raw")
PREPARED_DIR = Path("data/prepared")
MODELS_DIR = Path("models")
REPORTS_DIR = Path("reports")
SHAPES_FILE = REPORTS_DIR / "data_shapes.json"
SCRATCH_FILE = REPORTS_DIR / "scratch_backprop.json"  # Part 1's loss and gradients, in the parameters' shapes
SAMPLES_FILE = REPORTS_DIR / "samples.json"  # what the sample figures show
FIGURES_DIR = REPORTS_DIR / "figures"
TRAINING_DIR = REPORTS_DIR / "training"  # per model: training.json and summary.txt
LIVE_DIR = REPORTS_DIR / "live"  # per model, DVCLive's directory: what training logs epoch by epoch
METRICS_DIR = REPORTS_DIR / "metrics"  # per model: test loss and accuracy, parameter counts
PREDICTIONS_DIR = REPORTS_DIR / "predictions"
PER_CLASS_DIR = REPORTS_DIR / "per_class"
EVALUATION_DIR = REPORTS_DIR / "evaluation"
REPORT_FILE = REPORTS_DIR / "report.md"
# The reference distribution, a DVC project of its own (reference/dvc.yaml): one record a run, and their summary.
REFERENCE_DIR = Path("reference")
REFERENCE_RUNS_DIR = REFERENCE_DIR / "runs"
REFERENCE_SUMMARY_FILE = REFERENCE_DIR / "summary.json"
CURVES = ("accuracy", "loss")


def model_outputs(name, root=Path()):
    """Where a model's training writes, under `root`: the model, its record directory, and what DVCLive logs.

    DVCLive's layout under `live`: metrics.json (its summary: the last epoch, then the best one),
    plots/metrics/{train,eval}/<metric>.tsv (one row an epoch) and plots/custom/<metric>.json
    (train and validation side by side, one row an epoch: the curves DVC plots draw).
    """
    live = root / LIVE_DIR / name
    return {
        "model": root / MODELS_DIR / f"{name}.keras",
        "record": root / TRAINING_DIR / name,
        "live": live,
        "summary": live / "metrics.json",
        "curves": {metric: live / "plots" / "custom" / f"{metric}.json" for metric in CURVES},
    }


CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


NUM_CLASSES = len(CLASS_NAMES)


class StageError(Exception):
    """A problem the user can fix; reported as one line, without a traceback."""


def run(main):
    """Run a stage's main(), turning a StageError into one line and exit code 1."""
    try:
        main()
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


# --- atomic writes ----------------------------------------------------------

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it to `path` only on success.

    The temporary name keeps the suffix, because Keras, NumPy and matplotlib
    choose the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; outputs should not be
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, data):
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as error:
        raise StageError(f"{path}: cannot read ({error.strerror}); run the stage that writes it") from None
    except json.JSONDecodeError as error:
        raise StageError(f"{path}: not valid JSON ({error})") from None


# --- data -------------------------------------------------------------------


def load_split(name, prepared_dir=PREPARED_DIR):
    """A prepared split ("train", "val", "test") as (x, y, label), its arrays' shapes checked."""
    path = Path(prepared_dir) / f"{name}.npz"
    try:
        with np.load(path) as data:
            x, y, label = data["x"], data["y"], data["label"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise StageError(
            f"{path}: not a prepared split with arrays x, y, label ({error}); run 'dvc repro preprocess'"
        ) from None
    n = len(label)
    if x.dtype != np.float32 or x.shape != (n, 784) or y.shape != (n, NUM_CLASSES):
        raise StageError(
            f"{path}: expected x float32 ({n}, 784) and y ({n}, 10), got x {x.dtype} {x.shape} and y {y.shape}"
        )
    return x, y, label
