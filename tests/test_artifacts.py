"""Byte-identical model and data files (stages.artifacts), and a quiet TensorFlow (stages.quiet_tf).

Keras and TensorFlow are imported inside the tests and fixtures that need
them. Nothing here needs the project's data or conftest fixtures.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stages import artifacts

ROOT = Path(__file__).resolve().parents[1]

# A tiny model, built, compiled and trained for one step, so that the archive
# holds weights and optimizer state; run in this process and in a fresh one.
TINY_MODEL = textwrap.dedent("""
    import numpy as np
    import keras

    def tiny_model(seed=0):
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")], name="tiny")
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        x = np.linspace(0, 1, 40, dtype="float32").reshape(8, 5)
        model.fit(x, np.eye(3, dtype="float32")[np.arange(8) % 3], batch_size=8, epochs=1, verbose=0)
        return model
""")


def tiny_model(seed=0):
    namespace = {}
    exec(TINY_MODEL, namespace)
    return namespace["tiny_model"](seed)


def arrays():
    rng = np.random.default_rng(0)
    return {
        "x": rng.random((30, 784), dtype=np.float32),
        "y": np.eye(10, dtype=np.float32)[np.arange(30) % 10],
        "label": (np.arange(30) % 10).astype(np.uint8),
    }


@pytest.fixture(scope="module")
def saved_twice(tmp_path_factory):
    """The same model and arrays saved twice, more than 2 s (the zip time resolution) apart,
    each time with the deterministic writers and with plain model.save / np.savez."""
    directory = tmp_path_factory.mktemp("saved")
    model = tiny_model()
    for run in (1, 2):
        artifacts.save_keras_model(model, directory / f"model{run}.keras")
        model.save(directory / f"plain{run}.keras")
        artifacts.save_npz(directory / f"data{run}.npz", **arrays())
        np.savez(directory / f"plain{run}.npz", **arrays())
        if run == 1:
            time.sleep(2.1)
    return directory, model


# --- .keras ------------------------------------------------------------------


def test_a_model_saved_twice_has_the_same_bytes(saved_twice):
    directory, _ = saved_twice
    assert (directory / "model1.keras").read_bytes() == (directory / "model2.keras").read_bytes()
    # The check has teeth: model.save() alone gives different bytes 2 s later.
    assert (directory / "plain1.keras").read_bytes() != (directory / "plain2.keras").read_bytes()


def shared_ids(node, found=None):
    """Every shared_object_id in a Keras config, in document order."""
    found = [] if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            found.append(value) if key == "shared_object_id" else shared_ids(value, found)
    elif isinstance(node, list):
        for item in node:
            shared_ids(item, found)
    return found


def without_shared_ids(node):
    if isinstance(node, dict):
        return {k: without_shared_ids(v) for k, v in node.items() if k != "shared_object_id"}
    if isinstance(node, list):
        return [without_shared_ids(item) for item in node]
    return node


def test_the_archive_keeps_kerass_entries_with_fixed_times_ids_and_save_date(saved_twice):
    directory, _ = saved_twice
    with zipfile.ZipFile(directory / "model1.keras") as archive, zipfile.ZipFile(directory / "plain1.keras") as plain:
        assert [i.filename for i in archive.infolist()] == [i.filename for i in plain.infolist()]
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.external_attr >> 16 == 0o600
        assert archive.read("model.weights.h5") == plain.read("model.weights.h5")
        metadata, plain_metadata = (json.loads(z.read("metadata.json")) for z in (archive, plain))
        config, plain_config = (json.loads(z.read("config.json")) for z in (archive, plain))
    assert metadata == {**plain_metadata, "date_saved": "1980-01-01@00:00:00"}
    # Keras' ids are memory addresses; ours number the same shared objects 1, 2, ...
    ids, plain_ids = shared_ids(config), shared_ids(plain_config)
    assert ids
    assert ids == [sorted(set(plain_ids), key=plain_ids.index).index(i) + 1 for i in plain_ids]
    assert without_shared_ids(config) == without_shared_ids(plain_config)


def sharing(model):
    """Which layers share a dtype policy object, as a tuple of first-appearance indices."""
    policies = [id(layer.dtype_policy) for layer in model.layers]
    return tuple(policies.index(p) for p in policies)


def test_the_archive_loads_and_predicts_like_the_model(saved_twice):
    import keras

    directory, model = saved_twice
    loaded = keras.saving.load_model(directory / "model1.keras")
    x = np.linspace(-1, 2, 35, dtype="float32").reshape(7, 5)
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights(), strict=False))
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    # Renumbered shared objects load as Keras' own ids do.
    plain = keras.saving.load_model(directory / "plain1.keras")
    assert sharing(loaded) == sharing(plain)


def test_different_weights_give_different_bytes_and_only_the_weights_differ(tmp_path):
    model = tiny_model()
    artifacts.save_keras_model(model, tmp_path / "a.keras")
    model.set_weights([w + 1 for w in model.get_weights()])
    artifacts.save_keras_model(model, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() != (tmp_path / "b.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.keras") as a, zipfile.ZipFile(tmp_path / "b.keras") as b:
        differ = [name for name in a.namelist() if a.read(name) != b.read(name)]
    assert differ == ["model.weights.h5"]


def test_a_model_rebuilt_in_a_fresh_process_has_the_same_bytes(tmp_path):
    """What a re-run of a training stage does: same seed, new process, another hash seed."""
    artifacts.save_keras_model(tiny_model(), tmp_path / "here.keras")
    script = TINY_MODEL + textwrap.dedent(f"""
        from stages.artifacts import save_keras_model
        save_keras_model(tiny_model(), {str(tmp_path / "there.keras")!r})
    """)
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    assert (tmp_path / "here.keras").read_bytes() == (tmp_path / "there.keras").read_bytes()


def test_a_failed_model_save_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    model = tiny_model()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    # Fails after Keras wrote its archive, while it is being rewritten.
    monkeypatch.setattr(artifacts, "fixed_keras_metadata", fail)
    with pytest.raises(OSError, match="disk full"):
        artifacts.save_keras_model(model, tmp_path / "new.keras")
    (tmp_path / "old.keras").write_bytes(b"previous model")
    with pytest.raises(OSError, match="disk full"):
        artifacts.save_keras_model(model, tmp_path / "old.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.keras"]
    assert (tmp_path / "old.keras").read_bytes() == b"previous model"


# --- .npz --------------------------------------------------------------------


def test_arrays_saved_twice_have_the_same_bytes_and_load_back(saved_twice):
    directory, _ = saved_twice
    assert (directory / "data1.npz").read_bytes() == (directory / "data2.npz").read_bytes()
    with np.load(directory / "data1.npz") as data:
        assert list(data.keys()) == ["x", "y", "label"]
        for name, array in arrays().items():
            assert data[name].dtype == array.dtype
            assert np.array_equal(data[name], array)


def test_npz_bytes_are_those_np_savez_writes(saved_twice):
    """So switching preprocess to save_npz leaves the prepared splits' hashes in dvc.lock valid."""
    directory, _ = saved_twice
    assert (directory / "data1.npz").read_bytes() == (directory / "plain1.npz").read_bytes()


def test_npz_entries_have_fixed_times(saved_twice):
    directory, _ = saved_twice
    with zipfile.ZipFile(directory / "data1.npz") as archive:
        assert {(i.date_time, i.external_attr >> 16, i.create_system) for i in archive.infolist()} == {
            ((1980, 1, 1, 0, 0, 0), 0o600, 3)
        }


def test_a_failed_npz_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    unsaveable = np.array([{"a": 1}], dtype=object)  # refused: save_npz never pickles
    with pytest.raises(ValueError, match="allow_pickle=False"):
        artifacts.save_npz(tmp_path / "new.npz", x=np.arange(3), bad=unsaveable)
    (tmp_path / "old.npz").write_bytes(b"previous data")
    with pytest.raises(ValueError, match="allow_pickle=False"):
        artifacts.save_npz(tmp_path / "old.npz", x=np.arange(3), bad=unsaveable)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.npz"]
    assert (tmp_path / "old.npz").read_bytes() == b"previous data"


# --- a quiet TensorFlow ------------------------------------------------------


def run_python(code, **env):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_stderr_filter_drops_exactly_the_notices_and_survives_a_crash():
    result = run_python("""
        import os, sys
        from stages.quiet_tf import STARTUP_NOTICES, stderr_without
        notice = (b"I0000 00:00:1795634350.279538    5776 port.cc:153] oneDNN custom operations are on. "
                  b"You may see slightly different numerical results due to floating-point round-off errors "
                  b"from different computation orders. To turn them off, set the environment variable "
                  b"`TF_ENABLE_ONEDNN_OPTS=0`.\\n")
        with stderr_without(STARTUP_NOTICES):
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
            os.write(2, notice)
            os.write(2, notice.replace(b"I0000", b"E0000"))   # another level: kept
            os.write(2, b"E0000 real error\\n")
            print("python warning", file=sys.stderr)
        os.write(2, notice)                                     # outside the block: kept
        with stderr_without(STARTUP_NOTICES):
            os.write(2, b"last words\\n")
            os.abort()
    """)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert [line[:10] for line in lines] == ["E0000 00:0", "E0000 real", "python war", "I0000 00:0", "last words"]


def test_tensorflow_starts_and_trains_quietly():
    """In a fresh process, as a training stage runs: no start-up notices, no spurious tf.data error.

    Whole batches (1,024 by 128, 300 by 100) and predict_on_batch: the case the defaults are in.
    """
    result = run_python(
        """
        import stages.common  # sets TF_CPP_MIN_LOG_LEVEL as every stage does
        from stages import quiet_tf
        tf = quiet_tf.import_tensorflow()
        import keras
        import numpy as np

        rng = np.random.default_rng(0)
        x = rng.random((1024, 784), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 1024)]
        tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(42)
        model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"], steps_per_execution=3)
        model.predict_on_batch(x[:1])
        model.fit(x, y, batch_size=128, validation_data=(x[:300], y[:300]), validation_batch_size=100,
                  epochs=2, verbose=0)
        print("trained")
    """,
        TF_CPP_MIN_LOG_LEVEL="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == "trained\n"
