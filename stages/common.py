"""What every stage shares: params loading and checking, atomic writes, errors."""

import contextlib
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import yaml

# TensorFlow's C++ start-up chatter would bury the stages' own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PARAMS_FILE = Path("params.yaml")
RAW_DIR = Path("data/raw")
PREPARED_DIR = Path("data/prepared")

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

# The trained models, as dvc.yaml's evaluate stage names them.
MODELS = ("mlp", "lenet-base", "lenet-dropout", "lenet-batchnorm")


class StageError(Exception):
    """A problem the user can fix; reported as one line, without a traceback."""


def run(main):
    """Run a stage's main(), turning a StageError into one line and exit code 1."""
    try:
        main()
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


# --- params -----------------------------------------------------------------


def load_params(path=PARAMS_FILE):
    try:
        with open(path) as f:
            params = yaml.safe_load(f)
    except OSError as error:
        raise StageError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise StageError(f"{path}: not valid YAML ({error})".replace("\n", " ")) from None
    if not isinstance(params, dict):
        raise StageError(f"{path}: expected a mapping of params at the top level")
    return params


def param(params, key):
    """The value at a dotted key such as 'data.val_fraction'."""
    value = params
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise StageError(f"{PARAMS_FILE}: {key}: missing")
        value = value[part]
    return value


def invalid_param(key, expected, value):
    return StageError(f"{PARAMS_FILE}: {key}: expected {expected}, got {value!r}")


def int_param(params, key, minimum=None, allow_none=False):
    value = param(params, key)
    if value is None and allow_none:
        return None
    expected = "an integer" + (f" >= {minimum}" if minimum is not None else "")
    if allow_none:
        expected += " or null"
    # bool is an int subclass: 'epochs: true' is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_param(key, expected, value)
    if minimum is not None and value < minimum:
        raise invalid_param(key, expected, value)
    return value


def float_param(params, key, low, high, low_inclusive=False, high_inclusive=False):
    value = param(params, key)
    left = "[" if low_inclusive else "("
    right = "]" if high_inclusive else ")"
    expected = f"a number in {left}{low}, {high}{right}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_param(key, expected, value)
    above = value >= low if low_inclusive else value > low
    below = value <= high if high_inclusive else value < high
    if not (above and below):
        raise invalid_param(key, expected, value)
    return float(value)


def bool_param(params, key):
    value = param(params, key)
    if not isinstance(value, bool):
        raise invalid_param(key, "true or false", value)
    return value


def choice_param(params, key, choices):
    value = param(params, key)
    if value not in choices:
        raise invalid_param(key, "one of " + ", ".join(map(str, choices)), value)
    return value


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
    """A prepared split ("train", "val", "test") as (x, y, label), checked against SPEC.md."""
    path = Path(prepared_dir) / f"{name}.npz"
    try:
        with np.load(path) as data:
            x, y, label = data["x"], data["y"], data["label"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise StageError(f"{path}: not a prepared split with arrays x, y, label ({error}); "
                         "run 'dvc repro preprocess'") from None
    n = len(label)
    if x.dtype != np.float32 or x.shape != (n, 784) or y.shape != (n, len(CLASS_NAMES)):
        raise StageError(f"{path}: expected x float32 ({n}, 784) and y ({n}, 10), "
                         f"got x {x.dtype} {x.shape} and y {y.shape}")
    return x, y, label
