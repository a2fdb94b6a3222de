"""The knobs that change what a trained model predicts with: an EMA of the weights, and flip TTA."""

import json

import numpy as np
import pytest
from conftest import as_images
from helpers import lenet_config, train_small

from stages import inference
from stages.evaluation import evaluate

# A small network, so that two short runs stay quick; batch-norm as in lenet.tuned.
SMALL = {
    "filters": [8, 16],
    "kernel_size": [3, 3],
    "padding": ["same", "same"],
    "pooling": ["max", "max"],
    "batch_norm": True,
    "dense_units": [],
    "batch_size": 64,
    "epochs": 2,
}


def mirrored(images):
    return images[:, :, ::-1]


def load(path):
    import keras

    return keras.saving.load_model(path)


@pytest.fixture(scope="module")
def data(small_data):
    (x_train, y_train), val = as_images(small_data)
    return (x_train[:1500], y_train[:1500]), val


def run(tmp_path, monkeypatch, data, name, **changes):
    config = lenet_config(**{**SMALL, **changes})
    workdir = tmp_path / name
    workdir.mkdir()
    record = train_small(workdir, monkeypatch, data, "lenet-base", config)
    return record, load(workdir / "models/lenet-base.keras"), workdir


def test_with_an_ema_the_weights_kept_are_the_ones_validated(data, tmp_path, monkeypatch):
    plain, plain_model, _ = run(tmp_path, monkeypatch, data, "plain")
    averaged, averaged_model, workdir = run(tmp_path, monkeypatch, data, "ema", ema_momentum=0.9)
    x_val, y_val = data[1]
    kept = inference.scores(inference.probabilities(averaged_model, x_val, 500, False), y_val)
    # The best epoch's validation score is the saved model's: the average was validated, chosen and kept.
    assert kept["accuracy"] == pytest.approx(averaged["best_val_accuracy"], abs=1e-4)
    assert kept["loss"] == pytest.approx(averaged["best_val_loss"], abs=1e-4)
    # Training itself follows the same path until the average is first swapped in, at the first epoch's end.
    first = [
        (workdir.parent / run / "reports/live/lenet-base/plots/metrics/train/loss.tsv").read_text().splitlines()[1]
        for run in ("plain", "ema")
    ]
    assert first[0] == first[1]
    assert averaged["best_val_loss"] != plain["best_val_loss"]
    # Only trainable weights are averaged: batch-norm's moving statistics follow the training path.
    for mine, theirs in zip(plain_model.trainable_weights, averaged_model.trainable_weights, strict=True):
        assert not np.array_equal(mine.numpy(), theirs.numpy()), mine.path


def test_flip_tta_averages_the_image_and_its_mirror_image(data, tmp_path, monkeypatch):
    record, model, _ = run(tmp_path, monkeypatch, data, "tta", test_time_flip=True)
    x_val, y_val = data[1]
    alone = model.predict(x_val, batch_size=250, verbose=0)  # the batch size decides the last bits
    mirror = model.predict(np.ascontiguousarray(mirrored(x_val)), batch_size=250, verbose=0)
    both = inference.probabilities(model, x_val, 250, True)
    np.testing.assert_allclose(both, (alone + mirror) / 2, rtol=1e-6)
    np.testing.assert_array_equal(inference.probabilities(model, x_val, 250, False), alone)
    # The summary adds the saved model's validation scores as evaluation predicts...
    expected = inference.scores(both, y_val)
    assert record["tta_val_accuracy"] == round(expected["accuracy"], 4)
    assert record["tta_val_loss"] == round(expected["loss"], 4)
    assert record["tta_val_accuracy"] != record["best_val_accuracy"]
    # ...and the evaluate stage predicts that way when the model's config asks for it.
    scores, predicted = evaluate(model, x_val, y_val, 500, test_time_flip=True)
    np.testing.assert_array_equal(predicted, both.argmax(axis=1))
    assert scores["accuracy"] == pytest.approx(expected["accuracy"])
    _, plain_predicted = evaluate(model, x_val, y_val, 500)
    np.testing.assert_array_equal(plain_predicted, alone.argmax(axis=1))


def test_a_symmetric_image_gets_the_same_prediction_with_and_without_tta(data, tmp_path, monkeypatch):
    _, model, _ = run(tmp_path, monkeypatch, data, "symmetric", epochs=1)
    x_val = data[1][0][:50]
    symmetric = (x_val + mirrored(x_val)) / 2
    alone = model.predict(symmetric, batch_size=50, verbose=0)
    np.testing.assert_allclose(inference.probabilities(model, symmetric, 50, True), alone, rtol=1e-5)


def test_models_without_these_knobs_record_no_tta_scores(data, tmp_path, monkeypatch):
    record, _, workdir = run(tmp_path, monkeypatch, data, "none", epochs=1)
    assert not any(key.startswith("tta_") for key in record)
    training = json.loads((workdir / "reports/training/lenet-base/training.json").read_text())
    assert training["config"]["ema_momentum"] == 0
    assert training["config"]["test_time_flip"] is False
