"""The four architectures, their params checks, and short training runs on real images."""

import json

import numpy as np
import pytest

from conftest import as_images
from stages import training
from stages.common import StageError
from stages.train_lenet import build_lenet
from stages.train_lenet import read_params as read_lenet_params
from stages.train_mlp import build_mlp
from stages.train_mlp import read_params as read_mlp_params

FIT = {"epochs": 2, "batch_size": 32, "optimizer": "adam", "learning_rate": 0.001,
       "restore_best_weights": True, "monitor": "val_loss", "reduce_lr_factor": 0.5, "reduce_lr_patience": None}
RUNTIME = {"seed": 7, "steps_per_execution": 1, "validation_batch_size": 500, "inter_op_threads": 0}

LENET_SHAPES = [[28, 28, 6], [14, 14, 6], [10, 10, 16], [5, 5, 16], [1, 1, 120], [120], [84], [10]]


def models():
    return {
        "mlp": build_mlp(784, [128, 64], "relu"),
        "lenet-base": build_lenet(),
        "lenet-dropout": build_lenet(dropout=0.5),
        "lenet-batchnorm": build_lenet(batch_norm=True),
    }


@pytest.fixture(scope="module")
def built():
    return models()


@pytest.mark.parametrize("name, total, trainable", [
    ("mlp", 109_386, 109_386),
    ("lenet-base", 61_706, 61_706),
    ("lenet-dropout", 61_706, 61_706),
    ("lenet-batchnorm", 62_274, 61_990),
])
def test_parameter_counts_match_the_assignment(built, name, total, trainable):
    counts = training.parameter_counts(built[name])
    assert counts == {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def test_mlp_layer_shapes(built):
    assert [layer["output_shape"] for layer in training.layer_table(built["mlp"])] == [[128], [64], [10]]


def shapes_of(model, *types):
    return [layer["output_shape"] for layer in training.layer_table(model) if layer["type"] not in types]


def test_lenet_layer_shapes(built):
    assert shapes_of(built["lenet-base"]) == LENET_SHAPES


def test_dropout_follows_each_conv_block(built):
    table = training.layer_table(built["lenet-dropout"])
    dropout_after = [table[i - 1]["type"] for i, layer in enumerate(table) if layer["type"] == "Dropout"]
    assert dropout_after == ["MaxPooling2D", "MaxPooling2D", "Conv2D"]
    assert shapes_of(built["lenet-dropout"], "Dropout") == LENET_SHAPES


def test_batch_norm_sits_between_each_conv_and_its_relu(built):
    types = [layer["type"] for layer in training.layer_table(built["lenet-batchnorm"])]
    assert types.count("BatchNormalization") == 3
    for i, layer_type in enumerate(types):
        if layer_type == "Conv2D":
            assert types[i + 1:i + 3] == ["BatchNormalization", "Activation"]
    assert shapes_of(built["lenet-batchnorm"], "BatchNormalization", "Activation") == LENET_SHAPES


def test_mlp_layer_sizes_come_from_params():
    model = build_mlp(784, [32], "tanh")
    assert training.parameter_counts(model)["total"] == 784 * 32 + 32 + 32 * 10 + 10


# --- params -------------------------------------------------------------------


def lenet_params(**overrides):
    variant = {"epochs": 10, "batch_size": 32, "dropout": 0.0, "batch_norm": False, "optimizer": "adam",
               "learning_rate": 0.001, "restore_best_weights": True, "monitor": "val_loss",
               "reduce_lr_factor": 0.5, "reduce_lr_patience": None, **overrides}
    return {"lenet": {"base": variant}}


@pytest.mark.parametrize("override, message", [
    ({"epochs": 0}, r"lenet.base.epochs: expected an integer >= 1, got 0"),
    ({"batch_size": -1}, r"lenet.base.batch_size: expected an integer >= 1"),
    ({"dropout": 1.0}, r"lenet.base.dropout: expected a number in \[0, 1\), got 1.0"),
    ({"dropout": -0.1}, r"lenet.base.dropout: expected a number in \[0, 1\)"),
    ({"optimizer": "adamax"}, r"lenet.base.optimizer: expected one of adam, adamw, sgd, rmsprop, got 'adamax'"),
    ({"learning_rate": 0}, r"lenet.base.learning_rate: expected a number in \(0, 1\]"),
    ({"monitor": "loss"}, r"lenet.base.monitor: expected one of val_loss, val_accuracy"),
    ({"batch_norm": "yes"}, r"lenet.base.batch_norm: expected true or false"),
])
def test_bad_lenet_params_name_the_key(override, message):
    with pytest.raises(StageError, match=message):
        read_lenet_params(lenet_params(**override), "base")


def test_an_unknown_variant_is_named():
    with pytest.raises(StageError, match=r"lenet.resnet: unknown variant \(expected one of: base\)"):
        read_lenet_params(lenet_params(), "resnet")


def test_good_lenet_params_pass():
    assert read_lenet_params(lenet_params(dropout=0.5), "base")["dropout"] == 0.5


@pytest.mark.parametrize("units", [[], [0], [64, "x"], 128])
def test_bad_mlp_hidden_units_are_named(units):
    params = {"mlp": {"hidden_units": units}}
    with pytest.raises(StageError, match=r"mlp.hidden_units: expected a non-empty list"):
        read_mlp_params(params)


# --- training on a small real subset ---------------------------------------------


def train_small(workdir, monkeypatch, build, reshape, name, fit=FIT):
    monkeypatch.chdir(workdir)
    (x_train, y_train), (x_val, y_val) = reshape
    training.configure(RUNTIME)
    training.fit(build(), name, (x_train, y_train), (x_val, y_val), fit, RUNTIME)
    return json.loads((workdir / "reports/training" / name / "training.json").read_text())


def test_lenet_learns_on_a_small_subset(small_data, tmp_path, monkeypatch):
    record = train_small(tmp_path, monkeypatch, build_lenet, as_images(small_data), "lenet-base")
    assert record["best_val_accuracy"] > 0.6
    assert (tmp_path / "models/lenet-base.keras").is_file()
    history = (tmp_path / "reports/training/lenet-base/history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,accuracy,val_loss,val_accuracy" and len(history) == 3
    assert record["untrained_output"]["sum"] == pytest.approx(1.0, abs=1e-5)
    assert record["weights_from_epoch"] == record["best_epoch"]


def test_training_is_deterministic(small_data, tmp_path, monkeypatch):
    records = []
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
        train_small(tmp_path / run, monkeypatch, lambda: build_mlp(784, [128, 64], "relu"), small_data, "mlp")
        records.append((tmp_path / run / "reports/training/mlp/training.json").read_bytes()
                       + (tmp_path / run / "reports/training/mlp/history.csv").read_bytes())
    assert records[0] == records[1]


def test_without_restore_the_last_epoch_is_kept(small_data, tmp_path, monkeypatch):
    fit = {**FIT, "restore_best_weights": False, "monitor": "val_accuracy", "batch_size": 128}
    record = train_small(tmp_path, monkeypatch, lambda: build_mlp(784, [16], "relu"), small_data, "mlp", fit)
    assert record["weights_from_epoch"] == 2
    assert np.isfinite(record["best_val_loss"])
