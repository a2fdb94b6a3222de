"""Two models compared over their reference seeds: the difference of the seed means, its Welch interval, a verdict.

Works on the statistics reference/summary.json gives per model (mean, sd, n), so the report and its
tests share one computation. No TensorFlow and no pydantic.
"""

import math

from stages.models import LENET_PREFIX, MLP, is_lenet

# The assignment's models, by name: its comparisons are about these three.
BASE = LENET_PREFIX + "base"
BATCHNORM = LENET_PREFIX + "batchnorm"
TUNED = LENET_PREFIX + "tuned"


def t_quantile(confidence, dof):
    """The two-sided `confidence` quantile of Student's t with `dof` degrees of freedom (not necessarily whole)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, dof))


def welch(a, b, confidence):
    """(mean of a - mean of b, low, high): the difference and its `confidence` interval, without assuming
    equal variances. `a` and `b` are (mean, sd, n); the degrees of freedom are Welch-Satterthwaite's."""
    (mean_a, sd_a, n_a), (mean_b, sd_b, n_b) = a, b
    var_a, var_b = sd_a**2 / n_a, sd_b**2 / n_b
    difference = mean_a - mean_b
    if var_a + var_b == 0:
        return difference, difference, difference  # no spread at all: the difference is exact
    dof = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    half = t_quantile(confidence, dof) * math.sqrt(var_a + var_b)
    return difference, difference - half, difference + half


def verdict(low, high, lower_is_better=False):
    """better, worse or tie for the first model: a tie when the interval holds 0 (the seeds cannot tell)."""
    if low <= 0 <= high:
        return "tie"
    return "better" if (high < 0) == lower_is_better else "worse"


def pairs(names):
    """The comparisons the assignment asks, among `names` (model, the model it is measured against): the
    plain LeNet-5 against the MLP, each other LeNet variant against the plain one, and the tuned network
    against the batch-norm one it grew from. A comparison whose models are not both there is left out."""
    wanted = [(BASE, MLP), *((name, BASE) for name in names if is_lenet(name) and name != BASE), (TUNED, BATCHNORM)]
    return [(a, b) for a, b in wanted if a in names and b in names]


def compare(stats_a, stats_b, key, confidence, lower_is_better=False):
    """The comparison of one statistic of two models' summary entries: difference, interval and verdict."""
    difference, low, high = welch(_sample(stats_a, key), _sample(stats_b, key), confidence)
    return {"difference": difference, "interval": (low, high), "verdict": verdict(low, high, lower_is_better)}


def _sample(stats, key):
    """(mean, sd, n) of `key` in a model's summary entry: `test_accuracy`, or `overfitting.accuracy_gap`."""
    node = stats
    for part in key.split("."):
        node = node[part]
    return node["mean"], node["std"], stats["n"]
