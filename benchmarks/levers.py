"""What each speed lever gives one training, measured: threads, instruction set, batch size.

    python -m benchmarks.levers [--model lenet-tuned] [--samples 12800] [--epochs 2] [--output PATH]

Each setting trains the model's network from params.yaml on the first `--samples` prepared
training images, in a process of its own (`--setting THREADS ISA BATCH`: the pin must be set
before TensorFlow loads), timed from the second epoch on so that graph tracing is left out.
The figures are images/s and GFLOP/s (stages/flops.py) against this machine's one-thread peak
(benchmarks/peak.py). Run it with the machine otherwise idle.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.measure import ROOT, base_env, peak, pin
from stages import kernels

SETTINGS = [  # (intra-op threads, cpu_isa, batch size or None for the model's own)
    (1, "avx2", None),
    (2, "avx2", None),
    (1, "native", None),
    (2, "native", None),
    (1, "avx2", 256),
    (2, "native", 256),
]
VALIDATION_IMAGES = 2000


def one_setting(model_name, samples, epochs, threads, isa, batch):
    """Train in this process under one setting: {images_per_s, gflops} over the epochs after the first."""
    pin(isa)
    from stages import flops, models, networks, params, quiet_tf, training
    from stages.common import load_split

    config = params.read(models.params_key(model_name))
    if batch is not None:
        config = config.model_copy(update={"batch_size": batch})
    train = params.read("train").model_copy(update={"intra_op_threads": threads})
    x, y, _ = load_split("train")
    xv, yv, _ = load_split("val")
    x, y = networks.as_input(model_name, x[:samples]), y[:samples]
    xv, yv = networks.as_input(model_name, xv[:VALIDATION_IMAGES]), yv[:VALIDATION_IMAGES]
    training.configure(1, train)  # TensorFlow's first import, quietly (stages/quiet_tf.py)
    import keras

    model = networks.build(model_name, config)
    training.compile_model(model, config, math.ceil(samples / config.batch_size), train.steps_per_execution)
    starts = []
    timer = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: starts.append(time.perf_counter()))
    with quiet_tf.quiet_fit_and_predict():
        model.fit(
            x,
            y,
            validation_data=(xv, yv),
            epochs=epochs,
            batch_size=config.batch_size,
            validation_batch_size=train.validation_batch_size,
            callbacks=[timer],
            verbose=0,
        )
    seconds = time.perf_counter() - starts[1]
    per_image = flops.per_image(model)
    work = (epochs - 1) * (samples * per_image["train"] + len(xv) * per_image["forward"])
    return {"images_per_s": (epochs - 1) * samples / seconds, "gflops": work / seconds / 1e9}


def measure_setting(args, threads, isa, batch):
    cmd = [sys.executable, "-m", "benchmarks.levers", "--model", args.model, "--samples", str(args.samples)]
    cmd += ["--epochs", str(args.epochs), "--setting", str(threads), isa, str(batch)]
    done = subprocess.run(cmd, cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        sys.exit(f"error: {threads} thread(s), {isa}, batch {batch} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet-tuned")
    parser.add_argument("--samples", type=int, default=12_800)
    parser.add_argument("--epochs", type=int, default=2, help="at least 2: the first is not timed")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "levers.json")
    parser.add_argument("--setting", nargs=3, metavar=("THREADS", "ISA", "BATCH"), help="one setting, this process")
    args = parser.parse_args()
    if args.setting:
        threads, isa, batch = args.setting
        batch = None if batch == "None" else int(batch)
        print(json.dumps(one_setting(args.model, args.samples, args.epochs, int(threads), isa, batch)))
        return
    peaks = {isa: peak(isa)["gflops"] for isa in ("avx2", "native")}
    rows = []
    for threads, isa, batch in SETTINGS:
        result = measure_setting(args, threads, isa, batch)
        share = result["gflops"] / (threads * peaks[isa])
        rows.append({"threads": threads, "cpu_isa": isa, "batch_size": batch, **result, "share_of_peak": share})
        print(f"{threads} thread(s), {isa}, batch {batch or 'as params'}: {result['images_per_s']:.0f} images/s")
    results = {"cpu_model": kernels.cpu_model(), "cpus": os.cpu_count()}
    results |= {"peak_gflops_one_thread": peaks, "model": args.model, "samples": args.samples, "epochs": args.epochs}
    args.output.write_text(json.dumps(results | {"settings": rows}, indent=2) + "\n")
    print(f"written: {args.output}; `python docs/generate.py` renders it in docs/performance.md")


if __name__ == "__main__":
    main()
