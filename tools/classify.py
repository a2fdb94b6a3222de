"""Classify your own images with a trained model: a class and its probability for each image.

    python -m tools.classify MODEL.keras IMAGE.png [IMAGE.png ...]
    python -m tools.classify MODEL.keras IMAGES-idx3-ubyte[.gz] [--record training.json]

Images are what the models were trained on: 28x28 pixels, 8-bit grey, a light garment on a black
background (Fashion-MNIST's look), as PNG files or in one IDX file (uncompressed or gzipped).
Each output line is `image<TAB>class<TAB>probability`, the image named by its file, or by
`file[index]` inside an IDX file.

The model predicts as the evaluate stage does (stages/inference.py, under params.yaml's `cpu_isa`
and `evaluate.batch_size`), with the mirror image too when its training record says
`test_time_flip`. The record is reports/training/<model>/training.json in the project, where
`dvc repro`, `dvc pull` or `dvc get <repo> reports/training/<model>/training.json` puts it; --record
names another place. Every image is checked before TensorFlow loads: a wrong size, colour where grey
is expected or an unreadable file is one line naming it, and nothing is classified.
"""

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from stages import idx, inference, params
from stages.common import CLASS_NAMES, StageError, model_outputs, read_json

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEIGHT, WIDTH = idx.IMAGE_SHAPE
MAX_IDX_BYTES = 1 << 30  # what a gzipped IDX file may inflate to: a million images, not a zip bomb
WHITE = 255  # opaque, for an alpha channel


def read_images(path):
    """[(name, 28x28 uint8 image)] from a PNG or IDX file; a StageError naming `path` otherwise."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise StageError(f"{path}: cannot read ({error.strerror})") from None
    if data.startswith(PNG_SIGNATURE):
        return [(str(path), png_image(path, data))]
    if data.startswith(idx.GZIP_MAGIC):
        data, longer = idx.inflate(data, MAX_IDX_BYTES, path)
        if longer:
            raise StageError(f"{path}: inflates to more than {MAX_IDX_BYTES:,} bytes")
    if len(data) >= 4 and data[:3] == b"\x00\x00\x08":
        images = idx.parse(bytes(data), path)
        if images.ndim != 3:
            raise StageError(f"{path}: an IDX file of shape {images.shape}, expected images (count, 28, 28)")
        check_size(path, images.shape[2], images.shape[1])
        return [(f"{path}[{i}]", image) for i, image in enumerate(images)]
    raise StageError(f"{path}: neither a PNG nor an IDX file of unsigned bytes")


def png_image(path, data):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:  # Pillow reports a bad chunk as SyntaxError
        raise StageError(f"{path}: not a readable PNG ({error})") from None
    check_size(path, *image.size)
    if image.mode in ("L", "1"):
        return np.asarray(image.convert("L"))
    if image.mode not in ("LA", "P", "PA", "RGB", "RGBA"):
        raise StageError(f"{path}: a PNG of mode {image.mode}, expected 8-bit grey (mode L)")
    rgba = np.asarray(image.convert("RGBA"))
    grey = (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 1] == rgba[..., 2]).all()
    if not grey:
        raise StageError(f"{path}: a colour image ({image.mode}), expected grey: the models saw grey images only")
    if (rgba[..., 3] != WHITE).any():
        raise StageError(f"{path}: has transparent pixels, expected an opaque grey image")
    return rgba[..., 0]


def check_size(path, width, height):
    if (height, width) != (HEIGHT, WIDTH):
        raise StageError(f"{path}: {width}x{height} pixels, expected {WIDTH}x{HEIGHT}: resize it first")


def test_time_flip(model_path, record_path):
    """Whether the model predicts with the mirror image too, as its training record says."""
    record_path = record_path or model_outputs(Path(model_path).stem)["record"] / "training.json"
    if not Path(record_path).is_file():
        raise StageError(
            f"{record_path}: no training record for {model_path} (it says whether to predict with the mirror "
            "image too); give --record, e.g. after dvc get <repo> reports/training/<model>/training.json"
        )
    return bool(read_json(record_path)["config"].get("test_time_flip", False))


def classify(model_path, images, batch_size, flip):
    """The predicted class index and its probability for each (28, 28) uint8 image, as evaluate predicts."""
    model = inference.load_model(model_path)
    x = np.stack(images).astype(np.float32) / np.float32(255)  # as the preprocess stage scales pixels
    probabilities = inference.probabilities(model, x.reshape(-1, *model.input_shape[1:]), batch_size, flip)
    predicted = probabilities.argmax(axis=1)
    return predicted, probabilities[np.arange(len(predicted)), predicted]


def collect(errors, function, *args):
    """function(*args), or None with its one-line error added to `errors`."""
    try:
        return function(*args)
    except StageError as error:
        errors.append(str(error))
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a trained model, models/<model>.keras (dvc artifacts get <repo> <model>)")
    parser.add_argument("images", nargs="+", help="PNG files, or IDX files of images")
    parser.add_argument("--record", help="the model's training.json (default: reports/training/<model>/)")
    args = parser.parse_args(argv)
    errors = []  # every problem at once, one line each, before TensorFlow's import
    named = [image for path in args.images for image in collect(errors, read_images, path) or []]
    flip = collect(errors, test_time_flip, args.model, args.record)
    collect(errors, inference.check_model_file, args.model)
    evaluate = collect(errors, params.read, "evaluate")
    if errors:
        sys.exit("\n".join(f"error: {error}" for error in errors))
    predicted, probability = classify(args.model, [image for _, image in named], evaluate.batch_size, flip)
    for (name, _), label, p in zip(named, predicted, probability, strict=True):
        print(f"{name}\t{CLASS_NAMES[label]}\t{p:.4f}")


if __name__ == "__main__":
    try:
        main()
    except StageError as error:
        sys.exit(f"error: {error}")
