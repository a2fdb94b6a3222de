import numpy as np
import pytest

from stages.scratch_backprop import (
    backward,
    forward,
    loss,
    make_problem,
    max_relative_error,
    numerical_gradients,
)

REFERENCE_LOSS = 0.1332476222330792
REFERENCE_GRADIENTS = {
    "W1": [[0.00244596, 0.00262019], [-0.00030765, -0.00024188], [-0.00034768, -0.000372]],
    "b1": [0.00492577, -0.00058023, -0.00065977],
    "W2": [0.02216011, 0.02433097, 0.01797174],
    "b2": 0.029249230265318685,
}


def reference_run():
    weights, X, T = make_problem(seed=0, n_samples=1000, n_hidden=3)
    H, Y = forward(weights, X)
    return weights, X, T, loss(Y, T), backward(weights, X, T, H, Y)


def test_loss_matches_the_reference_exactly():
    *_, L, _ = reference_run()
    assert L == REFERENCE_LOSS


@pytest.mark.parametrize("name", REFERENCE_GRADIENTS)
def test_gradients_match_the_reference_in_their_parameters_shapes(name):
    weights, *_, gradients = reference_run()
    assert np.shape(gradients[name]) == np.shape(weights[name])
    np.testing.assert_allclose(gradients[name], REFERENCE_GRADIENTS[name], rtol=0, atol=5e-9)


def test_reference_gradients_pass_the_numerical_check():
    weights, X, T, _, gradients = reference_run()
    assert max_relative_error(gradients, numerical_gradients(weights, X, T, 1e-6)) < 1e-6


@pytest.mark.parametrize(("seed", "n_hidden"), [(1, 1), (2, 4), (3, 7)])
def test_random_networks_agree_with_numerical_gradients(seed, n_hidden):
    weights, X, T = make_problem(seed=seed, n_samples=50, n_hidden=n_hidden)
    # Non-zero biases, so their gradients are exercised away from the start point.
    rng = np.random.default_rng(seed)
    weights["b1"] = rng.normal(size=n_hidden)
    weights["b2"] = np.float64(rng.normal())
    H, Y = forward(weights, X)
    gradients = backward(weights, X, T, H, Y)
    assert max_relative_error(gradients, numerical_gradients(weights, X, T, 1e-6)) < 1e-6


def test_the_check_catches_a_wrong_gradient():
    weights, X, T, _, gradients = reference_run()
    gradients["W1"] = gradients["W1"].T.reshape(3, 2)  # the original hand-in's transposition
    assert max_relative_error(gradients, numerical_gradients(weights, X, T, 1e-6)) > 1e-2
