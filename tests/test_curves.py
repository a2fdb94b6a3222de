"""A training's curves read back from DVCLive's files, and what a reference record keeps of them."""

import json

import pytest

from stages.common import StageError
from stages.curves import read_history, recorded_signs


def write_curves(directory, accuracy, loss):
    directory.mkdir(parents=True)
    paths = {}
    for metric, (train, validation) in {"accuracy": accuracy, "loss": loss}.items():
        rows = [
            {"epoch": i + 1, "train": t, "validation": v}
            for i, (t, v) in enumerate(zip(train, validation, strict=True))
        ]
        paths[metric] = directory / f"{metric}.json"
        paths[metric].write_text(json.dumps(rows))
    return paths


def test_a_record_keeps_the_final_gap_the_rise_above_the_lowest_validation_loss_and_its_epoch(tmp_path):
    curves = write_curves(
        tmp_path / "custom", ([0.85, 0.90, 0.95], [0.86, 0.88, 0.87]), ([0.4, 0.25, 0.12], [0.38, 0.33, 0.41])
    )
    history = read_history(curves)
    assert history[1] == {"epoch": 2, "accuracy": 0.90, "val_accuracy": 0.88, "loss": 0.25, "val_loss": 0.33}
    assert recorded_signs(history, 4) == {"accuracy_gap": 0.08, "val_loss_rise": 0.08, "min_val_loss_epoch": 2}


def test_a_curve_without_its_columns_is_a_one_line_error_naming_its_directory(tmp_path):
    curves = write_curves(tmp_path / "custom", ([0.9], [0.8]), ([0.3], [0.4]))
    curves["loss"].write_text(json.dumps([{"epoch": 1, "training": 0.3}]))
    with pytest.raises(StageError, match=r"custom: not a training curve") as error:
        read_history(curves)
    assert "\n" not in str(error.value)
