"""How much arithmetic a training is: floating-point operations counted from the built Keras model.

The counting is the usual one for dense and convolution layers, whose weights
do almost all the work: a multiply-add is 2 FLOPs, as a peak figure counts a
fused multiply-add (benchmarks/peak.py), so the two can be divided.

  forward, per image   each Conv2D: out_h * out_w * filters * (k_h * k_w * in_channels) multiply-adds;
                       each SeparableConv2D: its depthwise part, out_h * out_w * in_channels * k_h * k_w,
                       plus its pointwise part, out_h * out_w * filters * in_channels;
                       each Dense: inputs * units
  backward, per image  twice the forward: the gradient of the weights and that of the layer's input,
                       except the first weighted layer, whose input (the image) needs no gradient
  a training           epochs * (train images * (forward + backward) + validation images * forward)

Element-wise layers (activations, pooling, batch-norm, dropout, biases) are left out: they are a few
percent of a LeNet's operations and none of its matrix products. They are not a few percent of its
time, which is why a sweep prices a run in core-seconds too (docs/tuning.md).
"""

FLOPS_PER_MULTIPLY_ADD = 2


def multiply_adds(layer):
    """Forward multiply-adds per image of one layer: 0 for layers with no weight matrix."""
    kind = type(layer).__name__
    if kind == "Conv2D":
        out_h, out_w, filters = layer.output.shape[1:]
        k_h, k_w, in_channels, _ = layer.kernel.shape
        return out_h * out_w * filters * k_h * k_w * in_channels
    if kind == "SeparableConv2D":
        out_h, out_w, filters = layer.output.shape[1:]
        k_h, k_w, in_channels, multiplier = layer.depthwise_kernel.shape
        return out_h * out_w * in_channels * multiplier * (k_h * k_w + filters)
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
