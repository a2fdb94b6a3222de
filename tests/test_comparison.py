"""Two models over their seeds (stages/comparison.py): the Welch interval, checked on numbers worked by hand."""

import math

import pytest

from stages import comparison


def test_equal_spreads_give_twice_n_minus_one_degrees_of_freedom_and_a_tie_when_the_interval_holds_0():
    # s = 0.005, n = 5 each: se = sqrt(2 * 0.005^2 / 5) = sqrt(1e-5) = 0.0031623; dof = 2 (n - 1) = 8;
    # t(0.995, 8) = 3.355 from a printed t-table: half-width 0.01061, so 0.01 +- 0.01061 holds 0
    difference, low, high = comparison.welch((0.91, 0.005, 5), (0.90, 0.005, 5), 0.99)
    assert difference == pytest.approx(0.01)
    assert (low, high) == pytest.approx((0.01 - 0.010610, 0.01 + 0.010610), abs=2e-5)
    assert comparison.verdict(low, high) == "tie"


def test_unequal_spreads_use_welch_satterthwaite_degrees_of_freedom():
    # s_a = 0.002, n_a = 4 and s_b^2 = 2e-6, n_b = 2: s^2 / n = 1e-6 each, se = sqrt(2e-6) = 0.0014142;
    # dof = (2e-6)^2 / ((1e-6)^2 / 3 + (1e-6)^2 / 1) = 3 (a pooled test would take n_a + n_b - 2 = 4);
    # t(0.995, 3) = 5.841 from a printed t-table: half-width 0.008260
    _, low, high = comparison.welch((0.91, 0.002, 4), (0.90, math.sqrt(2e-6), 2), 0.99)
    assert (low, high) == pytest.approx((0.01 - 0.008260, 0.01 + 0.008260), abs=2e-5)
    assert comparison.verdict(low, high) == "better"
    # the same interval for a loss: a higher mean is the worse one
    assert comparison.verdict(low, high, lower_is_better=True) == "worse"
    assert comparison.verdict(-high, -low, lower_is_better=True) == "better"
    assert comparison.verdict(-high, -low) == "worse"


def test_no_spread_at_all_is_an_exact_difference():
    assert comparison.welch((0.9, 0.0, 3), (0.8, 0.0, 3), 0.99) == pytest.approx((0.1, 0.1, 0.1))


def test_the_assignments_comparisons_among_whichever_models_there_are():
    names = ["mlp", "lenet-base", "lenet-dropout", "lenet-batchnorm", "lenet-tuned"]
    assert comparison.pairs(names) == [
        ("lenet-base", "mlp"),
        ("lenet-dropout", "lenet-base"),
        ("lenet-batchnorm", "lenet-base"),
        ("lenet-tuned", "lenet-base"),
        ("lenet-tuned", "lenet-batchnorm"),
    ]
    # a comparison whose models are not both there is left out
    assert comparison.pairs(["mlp", "lenet-base", "lenet-wide"]) == [
        ("lenet-base", "mlp"),
        ("lenet-wide", "lenet-base"),
    ]
    assert comparison.pairs(["mlp", "lenet-tuned"]) == []


def test_compare_reads_a_statistic_of_two_summary_entries():
    a = {"n": 5, "overfitting": {"accuracy_gap": {"mean": 0.01, "std": 0.005}}}
    b = {"n": 5, "overfitting": {"accuracy_gap": {"mean": 0.03, "std": 0.005}}}
    result = comparison.compare(a, b, "overfitting.accuracy_gap", 0.99, lower_is_better=True)
    assert result["difference"] == pytest.approx(-0.02)
    assert result["verdict"] == "better"  # a smaller gap, wholly: -0.02 +- 0.0106
