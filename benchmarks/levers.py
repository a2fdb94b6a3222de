"""What each speed lever gives one training, measured: threads, instruction set, batch size.

    python -m benchmarks.levers [--model lenet-tuned] [--samples 12800] [--epochs 2] [--output PATH]

Each setting trains the model's network from params.yaml in a fresh process (the pin's
variables must be set before TensorFlow loads) on the first `--samples` prepared training
images, and is timed from the second epoch on, so that graph tracing is left out. The
figures are images/s and GFLOP/s (benchmarks/flops.py) against this machine's one-thread
peak (benchmarks/peak.py). Run it with the machine otherwise idle.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import peak
from stages import kernels

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [  # (intra-op threads, cpu_isa, batch size or None for the model's own)
    (1, "avx2", None),
    (2, "avx2", None),
    (1, "native", None),
    (2, "native", None),
    (1, "avx2", 256),
    (2, "native", 256),
]

_PROBE = """
import json, sys, time
import numpy as np
from stages import params, quiet_tf, training
from stages.common import load_split
quiet_tf.import_tensorflow()
import keras
from stages import flops
from stages.networks import IMAGE_SHAPE, build_lenet

model_name, batch = sys.argv[1], sys.argv[5]
samples, epochs, threads = map(int, sys.argv[2:5])
config = params.read(models.params_key(model_name))
if batch != "None":
    config = config.model_copy(update={"batch_size": int(batch)})
train = params.read("train").model_copy(update={"intra_op_threads": threads})
x, y, _ = load_split("train")
x, y = x[:samples].reshape(-1, *IMAGE_SHAPE), y[:samples]
xv, yv, _ = load_split("val")
xv, yv = xv[:2000].reshape(-1, *IMAGE_SHAPE), yv[:2000]
training.configure(1, train)
model = build_lenet(config)
training.compile_model(model, config, samples // config.batch_size, train.steps_per_execution)
times = []
timer = keras.callbacks.LambdaCallback(
    on_epoch_begin=lambda e, logs: times.append(time.perf_counter()),
    on_epoch_end=lambda e, logs: times.append(time.perf_counter()),
)
model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=config.batch_size,
          validation_batch_size=train.validation_batch_size, callbacks=[timer], verbose=0)
seconds = sum(times[i + 1] - times[i] for i in range(2, len(times), 2))
per_image = flops.per_image(model)
work = (epochs - 1) * (samples * per_image["train"] + len(xv) * per_image["forward"])
print(json.dumps({"images_per_s": (epochs - 1) * samples / seconds, "gflops": work / seconds / 1e9}))
"""


def probe(model, samples, epochs, threads, isa, batch):
    env = {k: v for k, v in os.environ.items() if k not in kernels.VARIABLES}
    env.update(kernels.PINS[isa], TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, model, str(samples), str(epochs), str(threads), str(batch)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if out.returncode != 0:
        raise SystemExit(f"probe {threads} thread(s), {isa}, batch {batch} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet-tuned")
    parser.add_argument("--samples", type=int, default=12_800)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "levers.json")
    args = parser.parse_args()
    peaks = {isa: peak.measure(isa=isa)["gflops"] for isa in ("avx2", "native")}
    rows = []
    for threads, isa, batch in SETTINGS:
        result = probe(args.model, args.samples, args.epochs, threads, isa, batch)
        share = result["gflops"] / (threads * peaks[isa])
        rows.append({"threads": threads, "cpu_isa": isa, "batch_size": batch, **result, "share_of_peak": share})
        print(
            f"{args.model}: {threads} thread(s), {isa}, batch {batch or 'as params'}: "
            f"{result['images_per_s']:.0f} images/s, {result['gflops']:.1f} GFLOP/s, "
            f"{share:.0%} of {threads} x {peaks[isa]:.0f} GFLOP/s",
            flush=True,
        )
    results = {"cpu_model": kernels.cpu_model(), "cpus": os.cpu_count(), "peak_gflops_one_thread": peaks}
    results |= {"model": args.model, "samples": args.samples, "epochs": args.epochs, "settings": rows}
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
