"""Evaluation maths: a trained model's test scores, its predictions and per-class scores as tables.

What evaluate draws from these is in stages/figures.py; the reference runs use these alone.
"""

import csv
import io

from sklearn.metrics import precision_recall_fscore_support

from stages import inference, quiet_tf
from stages.common import CLASS_NAMES

DIGITS = 4  # metrics are rounded so that `dvc metrics show` stays readable


def evaluate(model, x_test, y_test, batch_size, test_time_flip=False):
    """Test loss and accuracy, and the predicted class of every test image.

    With `test_time_flip` (the model's training config) each prediction averages
    the image's and its mirror image's probabilities (stages/inference.py), and
    the loss is that of the averaged probabilities. Otherwise the model is
    recompiled with plain cross-entropy: a model trained with label smoothing
    would otherwise report a smoothed test loss, not comparable with the others.
    Two passes on purpose: model.evaluate computes the cross-entropy from the
    softmax layer's logits, which a loss recomputed from predicted
    probabilities (clipped at 1e-7) does not reproduce.
    """
    import keras

    x_test = x_test.reshape(-1, *model.input_shape[1:])
    if test_time_flip:
        probabilities = inference.probabilities(model, x_test, batch_size, test_time_flip)
        return inference.scores(probabilities, y_test), probabilities.argmax(axis=1)
    model.compile(loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    with quiet_tf.quiet_fit_and_predict():
        scores = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0, return_dict=True)
        predicted = model.predict(x_test, batch_size=batch_size, verbose=0).argmax(axis=1)
    return scores, predicted


def metrics_record(scores, record):
    """The numbers people compare between runs; per-class scores live in their own plot file,
    the best epoch and its validation scores in the training stage's DVCLive summary."""
    return {
        "test": {"loss": round(float(scores["loss"]), DIGITS), "accuracy": round(float(scores["accuracy"]), DIGITS)},
        "params": record["params"],
    }


def per_class_csv(labels, predicted):
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(len(CLASS_NAMES)), zero_division=0
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["class", "precision", "recall", "f1", "support"])
    writer.writerows(
        (name, round(float(p), DIGITS), round(float(r), DIGITS), round(float(f), DIGITS), int(n))
        for name, p, r, f, n in zip(CLASS_NAMES, precision, recall, f1, support, strict=False)
    )
    return out.getvalue()


def predictions_csv(labels, predicted):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["actual", "predicted"])
    writer.writerows((CLASS_NAMES[a], CLASS_NAMES[p]) for a, p in zip(labels, predicted, strict=False))
    return out.getvalue()
