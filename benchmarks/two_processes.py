"""What the second core is worth: one training process alone, then two side by side.

    python -m benchmarks.two_processes [--model lenet-base] [--samples 16000] [--epochs 5]

Two cold clones of the project with data.max_train_samples and the model's epochs set; each
prepares its data (untimed), then the model's training stage runs (`dvc repro --single-item
--force`, the committed thread counts included): alone in the first clone, then in both at once.
Images per second come from each fit's line in logs/timing.jsonl; side by side the two fits span
the same time, so their sum is what two processes train together. Writes --output.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import ROOT, base_env, cold_clone, machine
from stages import models


def train(copies, stage, env):
    """The training stage in every clone at once; each fit's record. --force: a re-run trains, not the run-cache."""
    command = ["dvc", "repro", "--single-item", "--force", stage]
    processes = [
        subprocess.Popen(command, cwd=c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in copies
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=3600)
        if process.returncode != 0:
            sys.exit(f"error: {' '.join(command)} exited {process.returncode}:\n{stderr.decode()[-2000:]}")
    return [json.loads((copy / "logs" / "timing.jsonl").read_text().splitlines()[-1]) for copy in copies]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet-base", help="mlp or lenet-<variant>")
    parser.add_argument("--samples", type=int, default=16_000, help="training images (data.max_train_samples)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "two_processes.json")
    args = parser.parse_args()
    env = base_env()
    params = {"data.max_train_samples": args.samples, f"{models.params_key(args.model)}.epochs": args.epochs}
    workdir = Path(tempfile.mkdtemp(prefix="dvc-two-processes-"))
    try:
        copies = [cold_clone(workdir / name, params, env) for name in ("first", "second")]
        for copy in copies:
            prepare = ["dvc", "repro", "preprocess"]
            subprocess.run(prepare, cwd=copy, env=env, check=True, capture_output=True, timeout=900)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        stage = models.stages(args.model)["train"]
        alone = train(copies[:1], stage, env)[0]
        side_by_side = train(copies, stage, env)
    finally:
        shutil.rmtree(workdir)
    result = {"started": started, "machine": machine(), "model": args.model}
    result |= {"training_images": args.samples, "epochs": args.epochs}
    result |= {
        "alone_images_per_s": alone["samples_per_second"],
        "side_by_side_images_per_s": [fit["samples_per_second"] for fit in side_by_side],
        "combined_images_per_s": sum(fit["samples_per_second"] for fit in side_by_side),
    }
    result["combined_over_alone"] = result["combined_images_per_s"] / result["alone_images_per_s"]
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
