"""Class probabilities from a trained model, with or without flip test-time augmentation (TTA).

With `test_time_flip` a prediction is the mean of the probabilities for the
image and for its mirror image: garments are left-right symmetric, so the two
views are two looks at the same class, and averaging them cancels some of the
errors either makes alone. The training stage records the validation score
this way and the evaluate stage scores the test set this way, so the two agree
on what the model is.
"""

import numpy as np

from stages import quiet_tf

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
