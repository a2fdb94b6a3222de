"""How much arithmetic a training is: floating-point operations counted from the built Keras model.

The counting is the usual one for dense and convolution layers, whose weights
do almost all the work: a multiply-add is 2 FLOPs, as a peak figure counts a
fused multiply-add (benchmarks/peak.py), so the two can be divided.

  forward, per image   each Conv2D: out_h * out_w * filters * (k_h * k_w * in_channels) multiply-adds;
                       each Dense: inputs * units
  backward, per image  twice the forward: the gradient of the weights and that of the layer's input,
                       except the first weighted layer, whose input (the image) needs no gradient
  a training           epochs * (train images * (forward + backward) + validation images * forward)

Element-wise layers (activations, pooling, batch-norm, dropout, biases) are left out: they are a few
percent of a LeNet's operations and none of its matrix products.
"""

import math

FLOPS_PER_MULTIPLY_ADD = 2


def multiply_adds(layer):
    """Forward multiply-adds per image of one layer: 0 for layers with no weight matrix."""
    kind = type(layer).__name__
    if kind == "Conv2D":
        out_h, out_w, filters = layer.output.shape[1:]
        k_h, k_w, in_channels, _ = layer.kernel.shape
        return out_h * out_w * filters * k_h * k_w * in_channels
    if kind == "Dense":
        inputs, units = layer.kernel.shape
        return inputs * units
    return 0


def per_image(model):
    """FLOPs per image: `forward` (inference) and `train` (forward and backward of one training image)."""
    macs = [multiply_adds(layer) for layer in model.layers]
    weighted = [m for m in macs if m]
    forward = sum(macs)
    # The first weighted layer's input gradient is not computed: nothing below it learns.
    backward = 2 * forward - (weighted[0] if weighted else 0)
    return {"forward": FLOPS_PER_MULTIPLY_ADD * forward, "train": FLOPS_PER_MULTIPLY_ADD * (forward + backward)}


def training(model, epochs, train_images, val_images):
    """FLOPs of a whole training: every epoch's training images forward and backward, and its validation pass."""
    flops = per_image(model)
    return epochs * (train_images * flops["train"] + val_images * flops["forward"])


def gflops_per_second(flops, seconds):
    return flops / seconds / 1e9 if seconds and not math.isnan(seconds) else None


def project_trainings(project):
    """{model: FLOPs of its training} for every model of `project`'s params.yaml, with its prepared data's sizes.

    Builds each network (TensorFlow is imported here): run it in a process of its own.
    """
    from pathlib import Path

    import numpy as np

    from stages import params, quiet_tf
    from stages.train_lenet import build_lenet
    from stages.train_mlp import build_mlp

    quiet_tf.import_tensorflow()
    project = Path(project)
    raw = params.load(project / "params.yaml")
    sizes = {}
    for split in ("train", "val"):
        with np.load(project / "data" / "prepared" / f"{split}.npz") as data:
            sizes[split] = len(data["label"])
    mlp = params.check(raw, "mlp")
    models = {"mlp": (build_mlp(784, mlp.hidden_units, mlp.activation), mlp.epochs)}
    for variant in raw["lenet"]:
        config = params.check(raw, f"lenet.{variant}")
        models[f"lenet-{variant}"] = (build_lenet(config), config.epochs)
    return {name: training(model, epochs, sizes["train"], sizes["val"]) for name, (model, epochs) in models.items()}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(project_trainings(sys.argv[1] if len(sys.argv) > 1 else ".")))
