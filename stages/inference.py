"""Class probabilities from a trained model, with or without flip test-time augmentation (TTA).

With `test_time_flip` a prediction is the mean of the probabilities for the
image and for its mirror image: garments are left-right symmetric, so the two
views are two looks at the same class, and averaging them cancels some of the
errors either makes alone. The training stage records the validation score
this way and the evaluate stage scores the test set this way, so the two agree
on what the model is.
"""

import zipfile
from pathlib import Path

import numpy as np

from stages import quiet_tf
from stages.common import StageError

WIDTH_AXIS = 2  # images are (batch, height, width, channels)


def probabilities(model, images, batch_size, test_time_flip):
    with quiet_tf.quiet_fit_and_predict():
        predicted = model.predict(images, batch_size=batch_size, verbose=0)
        if test_time_flip:
            mirrored = np.ascontiguousarray(np.flip(images, axis=WIDTH_AXIS))
            predicted = (predicted + model.predict(mirrored, batch_size=batch_size, verbose=0)) / 2
    return predicted


def scores(predicted, one_hot):
    """Cross-entropy (Keras', probabilities clipped at its epsilon) and accuracy of predicted probabilities."""
    import keras

    loss = keras.ops.mean(keras.losses.categorical_crossentropy(one_hot, predicted))
    accuracy = np.mean(predicted.argmax(axis=1) == one_hot.argmax(axis=1))
    return {"loss": float(loss), "accuracy": float(accuracy)}


def check_model_file(path):
    """Catch a missing or damaged model before TensorFlow's import, and its start-up chatter."""
    if not Path(path).is_file():
        raise StageError(f"{path}: no such model file; run 'dvc repro' for its training stage")
    if not zipfile.is_zipfile(path):
        raise StageError(
            f"{path}: not a Keras model archive (a .keras file is a zip); run 'dvc repro' for its training stage"
        )


def load_model(path):
    quiet_tf.import_tensorflow()  # before Keras imports it, so that its start-up notices are dropped
    import keras

    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises many types for a damaged archive
        raise StageError(
            f"{path}: not a loadable Keras model ({type(error).__name__}: {error})".splitlines()[0]
        ) from None
