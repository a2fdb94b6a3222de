"""One way to train: determinism, compiling, fit() and what a training writes, for every model.

TensorFlow is imported inside the functions that need it, so that params are
checked (and bad ones reported) before the three-second import.
"""

import importlib.metadata
import io
import json
import math
import os
import resource
import time
import typing
from pathlib import Path

from stages import flops, inference, kernels, networks, quiet_tf
from stages.artifacts import save_keras_model
from stages.common import CURVES, load_split, model_outputs, write_json, write_text

DIGITS = 4  # logged metrics are rounded, as the test metrics, so that DVC's tables stay readable
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}
TIMING_LOG = Path("logs/timing.jsonl")  # wall times vary run to run: git-ignored, not a tracked output
# The packages whose code computes or writes a model's bits (h5py writes the weights inside .keras).
BIT_PACKAGES = ("tensorflow-cpu", "keras", "numpy", "h5py")


def configure(seed, train):
    """Seeds, op determinism and threads: call before building a model."""
    tf = quiet_tf.import_tensorflow()  # the process's first TensorFlow import: Keras imports it too
    import keras

    # 0 keeps TensorFlow's default; either can only be set before the first op runs. Reductions
    # split across threads add up in another order: a different intra-op count gives other bits.
    if tf.config.threading.get_intra_op_parallelism_threads() != train.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(train.intra_op_threads)
    if tf.config.threading.get_inter_op_parallelism_threads() != train.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(train.inter_op_threads)
    keras.backend.clear_session()  # also restarts layer auto-names, which the outputs record
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def parameter_counts(model):
    import keras

    trainable = sum(keras.ops.size(w) for w in model.trainable_weights)
    non_trainable = sum(keras.ops.size(w) for w in model.non_trainable_weights)
    return {"total": int(trainable + non_trainable), "trainable": int(trainable), "non_trainable": int(non_trainable)}


def layer_table(model):
    return [
        {
            "name": layer.name,
            "type": type(layer).__name__,
            "output_shape": list(layer.output.shape[1:]),
            "params": layer.count_params(),
        }
        for layer in model.layers
    ]


def summary_text(model):
    lines = io.StringIO()
    model.summary(print_fn=lambda line, **_: lines.write(line + "\n"), line_length=90)
    return lines.getvalue()


def learning_rate(fit, steps_per_epoch):
    """A float, or a Keras schedule for `cosine`: linear warm-up to the rate, then cosine decay to 0."""
    import keras

    if fit.schedule.kind != "cosine":
        return fit.learning_rate
    warmup_steps = fit.schedule.warmup_epochs * steps_per_epoch
    decay_steps = (fit.epochs - fit.schedule.warmup_epochs) * steps_per_epoch
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(fit.learning_rate, decay_steps)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps, warmup_target=fit.learning_rate, warmup_steps=warmup_steps
    )


def compile_model(model, fit, steps_per_epoch, steps_per_execution):
    import keras

    # Adam and the others apply no decay unless given a value; AdamW always needs one.
    options = {"weight_decay": fit.weight_decay} if fit.weight_decay or fit.optimizer == "adamw" else {}
    if fit.ema_momentum:
        options |= {"use_ema": True, "ema_momentum": fit.ema_momentum}
    optimizer = getattr(keras.optimizers, OPTIMIZERS[fit.optimizer])(
        learning_rate=learning_rate(fit, steps_per_epoch), **options
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=fit.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )


def epoch_logger(live, name, epochs):
    """Each epoch, through DVCLive: the metrics (its summary and per-epoch TSVs, which `dvc exp show`
    and `dvc plots` read while the run goes on), the train-vs-validation curves, and one plain line
    for `dvc repro` output and CI logs. The line starts with the model's name, so that two trainings
    side by side (`make pipeline`) stay apart, and ends with the time left at the pace so far."""
    import keras

    rows = {metric: [] for metric in CURVES}
    started = []

    def begin(logs):
        started.append(time.perf_counter())

    def log(epoch, logs):
        done = epoch + 1
        per_epoch = (time.perf_counter() - started[0]) / done
        print(progress_line(name, done, epochs, logs, per_epoch), flush=True)
        for metric in CURVES:
            train, validation = (round(float(logs[key]), DIGITS) for key in (metric, f"val_{metric}"))
            live.log_metric(f"train/{metric}", train)
            live.log_metric(f"eval/{metric}", validation)
            rows[metric].append({"epoch": done, "train": train, "validation": validation})
            live.log_plot(metric, rows[metric], x="epoch", y=["train", "validation"])
        live.next_step()

    return keras.callbacks.LambdaCallback(on_train_begin=begin, on_epoch_end=log)


def progress_line(name, done, epochs, logs, seconds_per_epoch):
    """`lenet-tuned epoch 6/30: loss 0.2553 ... val_accuracy 0.8927; 31 s/epoch, 12:24 left`: minutes:seconds left."""
    metrics = " ".join(f"{k} {logs[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy"))
    left = round(seconds_per_epoch * (epochs - done))
    pace = f"{seconds_per_epoch:.0f} s/epoch, {left // 60}:{left % 60:02d} left"
    return f"{name} epoch {done}/{epochs}: {metrics}; {pace}"


def what_decides_the_bits(cpu_isa, train_params):
    """Besides params, code and data: what makes two machines train the same bytes (docs/reproducibility.md).

    The CPU model belongs here because oneDNN's bits follow it even under the `cpu_isa` pin
    (stages/kernels.py); nothing else that differs between machines (host name, core count) does.
    """
    return {
        "cpu_model": kernels.cpu_model(),
        "cpu_isa": cpu_isa,
        "intra_op_threads": train_params.intra_op_threads,
        "packages": {name: importlib.metadata.version(name) for name in BIT_PACKAGES},
    }


def train(name, config, *, seed, train_params, cpu_isa, root=Path(), splits=None):
    """Build, train and record model `name` (`mlp` or `lenet-<variant>`) with its params `config`.

    The training stages and the reference runs all train through here. It reads the prepared train and
    validation splits and writes, under `root`: the model, its summary and training record, and what
    DVCLive logs (stages/common.py's model_outputs). With restore_best_weights the saved weights are
    those of the epoch with the best validation score: only validation data chooses, never the test set.
    `splits`, ((x_train, y_train), (x_val, y_val)), replaces the prepared splits (tests train on subsets).
    Returns the DVCLive summary.
    """
    from dvclive import Live

    if splits is None:
        splits = [load_split(split)[:2] for split in ("train", "val")]
    (x_train, y_train), (x_val, y_val) = splits
    configure(seed, train_params)
    model = networks.build(name, config, seed)
    data = Splits((networks.as_input(name, x_train), y_train), (networks.as_input(name, x_val), y_val))
    compile_model(model, config, math.ceil(len(x_train) / config.batch_size), train_params.steps_per_execution)
    # predict_on_batch: predict() would build a tf.data pipeline that makes TensorFlow log a spurious
    # error (stages/quiet_tf.py)
    untrained_output = model.predict_on_batch(data.train[0][:1])[0]
    paths = model_outputs(name, root)
    # dvcyaml=False: dvc.yaml declares these outputs itself; no experiment of DVCLive's own either.
    live = Live(dir=str(paths["live"]), dvcyaml=False, save_dvc_exp=False)
    history, best_epoch, cost = fit(model, name, data, config, train_params, live)
    saved_epoch = best_epoch if config.restore_best_weights else config.epochs
    save_keras_model(model, paths["model"])
    write_text(paths["record"] / "summary.txt", summary_text(model))
    record = training_record(model, name, config, data, untrained_output, saved_epoch, cpu_isa, train_params)
    write_json(paths["record"] / "training.json", record)
    summary = summarise(live, model, config, data, train_params, history, best_epoch, cost)
    log_timing(name, cost)
    monitored = history[config.monitor][saved_epoch - 1]
    print(
        f"{name}: weights from epoch {saved_epoch} ({config.monitor} {monitored:.4f}); "
        f"fit took {cost['fit_seconds']:.1f} s, {cost['fit_core_seconds']:.1f} core-seconds"
    )
    return summary


class Splits(typing.NamedTuple):
    """The (images, one-hot labels) pairs a training reads, shaped as its network takes them."""

    train: tuple
    val: tuple


def fit(model, name, data, config, train_params, live):
    """Keras' fit with our callbacks: (history, best epoch counted from 1, {fit_seconds, fit_core_seconds, flops})."""
    import keras

    epochs = config.epochs
    # patience=epochs: never stops early, only tracks (and maybe restores) the best epoch.
    best = keras.callbacks.EarlyStopping(
        monitor=config.monitor, patience=epochs, restore_best_weights=config.restore_best_weights
    )
    # Before `best`: at each epoch's end the EMA weights are swapped in, so `best` keeps those.
    ema = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema_momentum else []
    callbacks = [epoch_logger(live, name, epochs), *ema, best]
    if config.schedule.kind == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=config.monitor, factor=config.schedule.factor, patience=config.schedule.patience
            )
        )
    started, cpu_started = time.perf_counter(), core_seconds()
    with quiet_tf.quiet_fit_and_predict():
        history = model.fit(
            *data.train,
            validation_data=data.val,
            epochs=epochs,
            batch_size=config.batch_size,
            validation_batch_size=train_params.validation_batch_size,
            callbacks=callbacks,
            verbose=0,
        )
    cost = {
        "fit_seconds": time.perf_counter() - started,
        "fit_core_seconds": core_seconds() - cpu_started,
        "flops": flops.training(model, epochs, len(data.train[0]), len(data.val[0])),
        "images": epochs * len(data.train[0]),
    }
    return history.history, best.best_epoch + 1, cost


def core_seconds():
    """CPU time of this process, every thread, user and system: what a run costs, whatever runs beside it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def training_record(model, name, config, data, untrained_output, saved_epoch, cpu_isa, train_params):
    """training.json: what the report describes the model by, from outputs alone."""
    return {
        "model": name,
        "config": config.record(),
        "train_samples": len(data.train[0]),
        "val_samples": len(data.val[0]),
        "params": parameter_counts(model),
        "layers": layer_table(model),
        "untrained_output": {
            "probabilities": [float(p) for p in untrained_output],
            "sum": float(untrained_output.sum()),
        },
        "weights_from_epoch": saved_epoch,
        "bits_decided_by": what_decides_the_bits(cpu_isa, train_params),
    }


def summarise(live, model, config, data, train_params, history, best_epoch, cost):
    """The stage's DVC metric, beside DVCLive's last epoch: a sweep that runs only training compares these.

    With `test_time_flip` the summary adds the saved model's validation scores as evaluation predicts
    (stages/inference.py). The work is there too, in GFLOP; the time is not, as it varies run to run.
    """
    live.summary.update(
        epochs=config.epochs,
        best_epoch=best_epoch,
        best_val_accuracy=round(float(history["val_accuracy"][best_epoch - 1]), DIGITS),
        best_val_loss=round(float(history["val_loss"][best_epoch - 1]), DIGITS),
    )
    if getattr(config, "test_time_flip", False):
        x_val, y_val = data.val
        predicted = inference.probabilities(model, x_val, train_params.validation_batch_size, True)
        flipped = inference.scores(predicted, y_val)
        live.summary.update({f"tta_val_{key}": round(value, DIGITS) for key, value in flipped.items()})
    live.summary.update(parameters=parameter_counts(model)["total"], training_gflop=round(cost["flops"] / 1e9, 1))
    live.end()
    return dict(live.summary)


def timing_log():
    """logs/timing.jsonl in the project: a queued experiment runs in a copy, and DVC_ROOT names the project."""
    return Path(os.environ.get("DVC_ROOT", ".")) / TIMING_LOG


def log_timing(name, cost):
    """Append to a git-ignored log: timings are for people, sweeps and benchmarks, not for dvc.lock.

    `experiment` is the queued experiment's name (DVC_EXP_NAME), so a sweep's table can join the two.
    """
    path = timing_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "model": name,
        "experiment": os.environ.get("DVC_EXP_NAME"),
        "fit_seconds": round(cost["fit_seconds"], 2),
        "fit_core_seconds": round(cost["fit_core_seconds"], 2),
        "samples_per_second": round(cost["images"] / cost["fit_seconds"], 1),
        "training_gflop": round(cost["flops"] / 1e9, 1),
        "cpu_model": kernels.cpu_model(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    with open(path, "a") as log:
        log.write(json.dumps(line) + "\n")
