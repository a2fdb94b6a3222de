"""Atomic, byte-deterministic writers for the binary outputs dvc.lock tracks.

Same content in, same bytes out, whenever and wherever the file is written:
DVC then sees an unchanged output as unchanged, and two runs with the same
params give the same `dvc.lock`.

- `save_keras_model(model, path)`: a Keras 3 `.keras` archive. `model.save()`
  alone writes three things that change from run to run: the zip entry time
  of `model.weights.h5` (Keras writes it with `ZipFile.writestr(name, ...)`,
  which takes the current time), `date_saved` in `metadata.json`, and in
  `config.json` every `shared_object_id`: Keras marks an object that several
  layers share (such as the float32 DTypePolicy) with its Python `id()`, a
  memory address. `config.json` and `metadata.json` already get the fixed
  1980-01-01 zip time, because `ZipFile.open(name, "w")` leaves a new
  ZipInfo's default date alone.
- `save_npz(path, **arrays)`: what `np.savez` writes (uncompressed), byte for
  byte, but with every varying field fixed by this module rather than by
  NumPy's and zipfile's current defaults.

The weights file inside the archive is deterministic as Keras writes it:
h5py creates datasets with `track_times=False` (HDF5's own default would store
creation times), and Keras opens the file with h5py's default
`libver="earliest"`, whose version-1 object headers hold no times for groups.
The tests check it, by saving the same model more than two seconds apart.

This module imports neither TensorFlow nor Keras: a model brings Keras along.
"""

import io
import json
import zipfile

import numpy as np

from stages.common import atomic_path

# The earliest time a zip entry can hold (its resolution is 2 s, local time);
# also what zipfile gives an entry opened by name for writing.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# What zipfile writes for an entry that has none (rw for the owner only): the
# bytes stay those Keras and NumPy write today, so existing hashes stay valid.
ZIP_FILE_MODE = 0o600
ZIP_UNIX = 3  # "made by" system: zipfile says Unix except on Windows; fix it everywhere
# Keras' own format (%Y-%m-%d@%H:%M:%S), at the zip epoch.
KERAS_DATE_SAVED = "1980-01-01@00:00:00"
KERAS_METADATA = "metadata.json"
KERAS_CONFIG = "config.json"


def zip_info(name):
    """A ZipInfo whose every field that zipfile would take from the clock or the OS is fixed."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_STORED  # stored: no dependence on the zlib version
    info.create_system = ZIP_UNIX
    info.external_attr = ZIP_FILE_MODE << 16  # Keras and NumPy write files only, no directory entries
    return info


def save_keras_model(model, path):
    """Save a Keras 3 model to `path` (.keras), atomically and byte-deterministically.

    The same architecture, weights and optimizer state give the same bytes.
    Keras writes the archive to a temporary file beside `path`; it is then
    rewritten entry by entry, in Keras' order, with fixed zip metadata and a
    fixed `date_saved` and numbered shared objects, and renamed onto `path`
    only if all of that succeeded.
    """
    with atomic_path(path) as tmp:
        model.save(tmp)
        normalize_keras_archive(tmp)


def normalize_keras_archive(path):
    """Rewrite a .keras archive in place with fixed entry times, modes and save date."""
    with open(path, "rb") as f:
        data = f.read()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries:
            if name == KERAS_METADATA:
                content = fixed_keras_metadata(content)
            elif name == KERAS_CONFIG:
                content = fixed_keras_config(content)
            archive.writestr(zip_info(name), content)


def fixed_keras_metadata(content):
    """metadata.json with `date_saved` fixed, keys and formatting as Keras writes them."""
    metadata = json.loads(content)
    if "date_saved" in metadata:
        metadata["date_saved"] = KERAS_DATE_SAVED
    return json.dumps(metadata).encode()


def fixed_keras_config(content):
    """config.json with each `shared_object_id` (an `id()`) replaced by 1, 2, ... in order of appearance.

    Loading uses these ids only to tell which configs are one shared object,
    so a consistent renumbering keeps the model as it was. Everything else is
    re-serialised as Keras serialises it (json.dumps with its defaults), so
    those bytes do not change.
    """
    config = json.loads(content)
    numbers = {}

    def renumber(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "shared_object_id":
                    node[key] = numbers.setdefault(value, len(numbers) + 1)
                else:
                    renumber(value)
        elif isinstance(node, list):
            for item in node:
                renumber(item)

    renumber(config)
    return json.dumps(config).encode()


def save_npz(path, **arrays):
    """Like `np.savez(path, **arrays)`, uncompressed, but atomic and byte-deterministic.

    Entries are written in argument order, with fixed zip metadata; `path` is
    used as given (np.savez would append .npz). Object arrays are refused
    (allow_pickle=False), so `np.load` never needs to unpickle.
    """
    # allowZip64 and force_zip64 as np.savez sets them: the same bytes as np.savez.
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(zip_info(f"{name}.npy"), "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)
