"""scratch_backprop stage: Part 1, a 2-3-1 sigmoid network's backward pass in NumPy.

    Z1 = X W1^T + b1        (N, H)     H = sigmoid(Z1)
    Z2 = H W2 + b2          (N,)       Y = sigmoid(Z2)
    L  = 1/(2N) sum_n (Y_n - T_n)^2

with T the 0/1 targets (the assignment calls them Y when it draws them).
"""

import numpy as np

from stages import params
from stages.common import METRICS_DIR, SCRATCH_FILE, run, write_json

METRICS_FILE = METRICS_DIR / "scratch_backprop.json"
N_INPUTS = 2  # the assignment's network: input 2 -> hidden -> output 1


def make_problem(seed, n_samples, n_hidden):
    """Weights and data drawn exactly in the assignment's order."""
    np.random.seed(seed)
    weights = {
        "W1": np.random.randn(n_hidden, N_INPUTS),
        "b1": np.zeros(n_hidden),
        "W2": np.random.randn(n_hidden),
        "b2": np.float64(0.0),
    }
    X = np.random.rand(n_samples, N_INPUTS)
    T = np.random.randint(0, 2, size=n_samples)
    return weights, X, T


def sigmoid(Z):
    return 1.0 / (1.0 + np.exp(-Z))


def forward(weights, X):
    Z1 = X @ weights["W1"].T + weights["b1"]
    H = sigmoid(Z1)
    Z2 = H @ weights["W2"] + weights["b2"]
    Y = sigmoid(Z2)
    return H, Y


def loss(Y, T):
    return np.sum((Y - T) ** 2) / (2 * len(T))


def backward(weights, X, T, H, Y):
    """Gradients of the loss, each in its parameter's shape."""
    dL_dY = (Y - T) / len(T)  # (N,)
    dL_dZ2 = dL_dY * Y * (1 - Y)  # (N,)
    dL_dW2 = H.T @ dL_dZ2  # (H,)
    dL_db2 = np.sum(dL_dZ2)
    dL_dH = np.outer(dL_dZ2, weights["W2"])  # (N, H)
    dL_dZ1 = dL_dH * H * (1 - H)  # (N, H)
    dL_dW1 = dL_dZ1.T @ X  # (H, 2), as W1
    dL_db1 = np.sum(dL_dZ1, axis=0)  # (H,)
    return {"W1": dL_dW1, "b1": dL_db1, "W2": dL_dW2, "b2": dL_db2}


def numerical_gradients(weights, X, T, epsilon):
    """Central differences, one parameter element at a time."""
    gradients = {}
    for name, value in weights.items():
        value = np.array(value, dtype=np.float64)
        gradient = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = {}
            for sign in (+1, -1):
                nudged = value.copy()
                nudged[index] += sign * epsilon
                _, Y = forward({**weights, name: nudged}, X)
                shifted[sign] = loss(Y, T)
            gradient[index] = (shifted[+1] - shifted[-1]) / (2 * epsilon)
        gradients[name] = gradient
    return gradients


def max_relative_error(analytic, numerical):
    worst = 0.0
    for name in analytic:
        a, n = np.asarray(analytic[name]), np.asarray(numerical[name])
        denominator = np.maximum(np.abs(a) + np.abs(n), np.finfo(np.float64).tiny)
        worst = max(worst, float(np.max(np.abs(a - n) / denominator)))
    return worst


def main():
    _, settings = params.read("cpu_isa", "scratch")
    weights, X, T = make_problem(settings.seed, settings.n_samples, settings.n_hidden)
    H, Y = forward(weights, X)
    gradients = backward(weights, X, T, H, Y)
    numerical = numerical_gradients(weights, X, T, settings.gradcheck_epsilon)
    error = max_relative_error(gradients, numerical)
    result = {
        "loss": float(loss(Y, T)),
        "gradients": {name: np.asarray(g).tolist() for name, g in gradients.items()},
        "gradient_check": {"epsilon": settings.gradcheck_epsilon, "max_relative_error": error},
        "problem": {
            "seed": settings.seed,
            "n_samples": settings.n_samples,
            "n_inputs": N_INPUTS,
            "n_hidden": settings.n_hidden,
            "n_outputs": 1,
        },
    }
    write_json(SCRATCH_FILE, result)
    write_json(METRICS_FILE, {"loss": result["loss"], "gradient_check_error": error})
    print(f"loss {result['loss']!r}; gradient check max relative error {error:.2e}")
    for name, gradient in result["gradients"].items():
        print(f"dL/d{name} = {gradient}")


if __name__ == "__main__":
    run(main)
