"""What a training prints: one line an epoch naming its model with the time left, and no TensorFlow noise."""

import re
import subprocess
import sys

from conftest import ROOT

from stages.training import progress_line

LOGS = {"loss": 0.41234, "accuracy": 0.85, "val_loss": 0.5, "val_accuracy": 0.8}

# A subset that does not split into whole batches (3,000 images by 32, 700 by 1,000) made TensorFlow
# log a spurious tf.data error and absl's warning before it (stages/quiet_tf.py).
TRAIN_ON_PARTIAL_BATCHES = """
import sys
from pathlib import Path

import numpy as np
from stages import params, quiet_tf, training

quiet_tf.import_tensorflow()
P = params.load(Path(sys.argv[1]))
config = params.check(P, "lenet.base").model_copy(update={"epochs": 2, "test_time_flip": True})
train = params.check(P, "train")
rng = np.random.default_rng(0)
x = rng.random((3000, 28, 28, 1), dtype=np.float32)
y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 3000)]
training.train("lenet-base", config, seed=1, train_params=train, cpu_isa="avx2", splits=((x, y), (x[:700], y[:700])))
"""


def test_a_progress_line_names_the_model_and_the_time_left():
    line = progress_line("lenet-tuned", 6, 30, LOGS, 31.4)
    assert line == (
        "lenet-tuned epoch 6/30: loss 0.4123 accuracy 0.8500 val_loss 0.5000 val_accuracy 0.8000; "
        "31 s/epoch, 12:34 left"
    )
    assert progress_line("mlp", 20, 20, LOGS, 0.7).endswith("1 s/epoch, 0:00 left")


def test_training_on_a_subset_with_partial_batches_prints_only_its_progress_lines(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "1", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", TRAIN_ON_PARTIAL_BATCHES, str(ROOT / "params.yaml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert result.stderr == ""
    epochs = [line for line in result.stdout.splitlines() if re.match(r"\S+ epoch \d+/", line)]
    assert len(epochs) == 2
    for done, line in enumerate(epochs, 1):
        assert re.fullmatch(rf"lenet-base epoch {done}/2: loss [0-9.]+ .*; \d+ s/epoch, \d+:\d\d left", line), line
