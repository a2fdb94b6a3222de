"""What the second core is worth on the day: one training process alone, then two side by side.

    python -m benchmarks.two_processes [--model lenet-base] [--samples 16000] [--epochs 5]

Makes two fresh copies of the project with data.max_train_samples=N and the model's
epochs set, prepares the data in each (`dvc repro preprocess`, untimed), then runs the
model's training stage (`dvc repro --single-item --force train_...`, with the params as
committed, one intra-op thread included): alone in the first copy, then in both copies
at once. The fit's images per second come from each
stage's logs/timing.jsonl; side by side, the two fits run over the same span, so their sum
is what two processes train together. Prints one JSON object and writes it to --output.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import project as proj
from benchmarks.measure import machine
from benchmarks.run import base_env

ROOT = Path(__file__).resolve().parents[1]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet-base", help="mlp or lenet-<variant>")
    parser.add_argument("--samples", type=int, default=16_000, help="training images (data.max_train_samples)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "two_processes.json")
    return parser.parse_args()


def stage_and_params(model):
    """The model's training stage in dvc.yaml, and where its epochs sit in params.yaml."""
    if model == "mlp":
        return "train_mlp", "mlp"
    variant = model.removeprefix("lenet-")
    return f"train_lenet@{variant}", f"lenet.{variant}"


def fit_record(copy):
    """The last fit logs/timing.jsonl holds: fit seconds and images per second."""
    return json.loads((copy / "logs" / "timing.jsonl").read_text().splitlines()[-1])


def train(copies, stage, env):
    """Run the training stage in every copy at once; wait for all; return each fit record.

    --force: the second run in a copy must train again, not restore from the run-cache."""
    command = ["dvc", "repro", "--single-item", "--force", stage]
    processes = [
        subprocess.Popen(command, cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for copy in copies
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=3600)
        if process.returncode != 0:
            sys.exit(f"{' '.join(process.args)} exited {process.returncode}:\n{stderr.decode()[-2000:]}")
    return [fit_record(copy) for copy in copies]


def main():
    args = parse_args()
    env = base_env()
    stage, section = stage_and_params(args.model)
    params = {"data.max_train_samples": args.samples, f"{section}.epochs": args.epochs}
    workdir = Path(tempfile.mkdtemp(prefix="dvc-two-processes-"))
    try:
        copies = [proj.make_copy(workdir / name, params, env) for name in ("first", "second")]
        for copy in copies:
            subprocess.run(["dvc", "repro", "preprocess"], cwd=copy, env=env, check=True, capture_output=True)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        alone = train(copies[:1], stage, env)[0]
        side_by_side = train(copies, stage, env)
    finally:
        shutil.rmtree(workdir)
    result = {
        "started": started,
        "machine": machine(),
        "model": args.model,
        "training_images": args.samples,
        "epochs": args.epochs,
        "alone_images_per_s": alone["samples_per_second"],
        "side_by_side_images_per_s": [fit["samples_per_second"] for fit in side_by_side],
        "combined_images_per_s": sum(fit["samples_per_second"] for fit in side_by_side),
    }
    result["combined_over_alone"] = result["combined_images_per_s"] / result["alone_images_per_s"]
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
