"""reference_run stage: one model (`mlp` or `lenet-<variant>`) retrained with another training seed, and tested.

    python -m stages.reference_run <model> <seed>

The reference distribution (reference/dvc.yaml) is made of these runs. A run is the
pipeline's own training and evaluation, with the model's params from params.yaml,
on the committed split (data/prepared, which `seed` drew and every machine
reproduces), with `<seed>` in place of `seed` for what training draws: initial
weights, shuffling, dropout and augmentation. That is what another CPU model does
to a run: same data, another trajectory. With `<seed>` equal to `seed` the run is
the pipeline's model, bit for bit on the same machine. The model itself is not kept:
the run writes only its small record, reference/runs/<model>/seed-<seed>.json: test loss
and accuracy, the best validation epoch, and the overfitting signs its curves show at the
end (train - validation accuracy, validation loss above its minimum, that minimum's epoch).
"""

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

from stages import models, params, training
from stages.common import REFERENCE_RUNS_DIR, StageError, load_split, model_outputs, read_json, run, write_json
from stages.curves import read_history, recorded_signs
from stages.evaluation import DIGITS, evaluate
from stages.inference import load_model

ROOT = Path(__file__).resolve().parents[1]


def run_path(model, seed):
    return REFERENCE_RUNS_DIR / model / f"seed-{seed}.json"


def code_version():
    """An MD5 over the project modules this process ran (path and content): which code made the run."""
    digest = hashlib.md5()
    for path in sorted({Path(m.__file__).resolve() for m in list(sys.modules.values()) if _is_ours(m)}):
        digest.update(f"{path.relative_to(ROOT)}\0".encode() + path.read_bytes())
    return digest.hexdigest()


def _is_ours(module):
    path = getattr(module, "__file__", None)
    return path is not None and Path(path).resolve().is_relative_to(ROOT / "stages")


def train_and_test(model, seed, cpu_isa, train_params, config, batch_size, workdir):
    summary = training.train(model, config, seed=seed, train_params=train_params, cpu_isa=cpu_isa, root=workdir)
    outputs = model_outputs(model, workdir)
    x_test, y_test, _ = load_split("test")
    # Tested as the evaluate stage tests: the saved file, loaded anew.
    scores, _ = evaluate(
        load_model(outputs["model"]), x_test, y_test, batch_size, getattr(config, "test_time_flip", False)
    )
    record = read_json(outputs["record"] / "training.json")
    return {
        "model": model,
        "seed": seed,
        "test": {"loss": round(scores["loss"], DIGITS), "accuracy": round(scores["accuracy"], DIGITS)},
        "validation": {"best_accuracy": summary["best_val_accuracy"], "best_epoch": summary["best_epoch"]},
        "overfitting": recorded_signs(read_history(outputs["curves"]), DIGITS),
        "bits_decided_by": record["bits_decided_by"],
        "code_version": code_version(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="mlp or lenet-<variant>")
    parser.add_argument("seed", type=int, help="the training seed")
    args = parser.parse_args()
    if not models.NAME.match(args.model) or args.seed < 0:
        raise StageError(f"{args.model} {args.seed}: expected mlp or lenet-<variant>, and a seed >= 0")
    cpu_isa, train_params, evaluate_params, config = params.read(
        "cpu_isa", "train", "evaluate", models.params_key(args.model)
    )
    with tempfile.TemporaryDirectory(prefix="reference-run-") as workdir:
        record = train_and_test(
            args.model, args.seed, cpu_isa, train_params, config, evaluate_params.batch_size, Path(workdir)
        )
    write_json(run_path(args.model, args.seed), record)
    print(f"{args.model} seed {args.seed}: test loss {record['test']['loss']}, accuracy {record['test']['accuracy']}")


if __name__ == "__main__":
    run(main)
