"""The distribution table the report and README share (stages/distribution.py)."""

import math

from stages import distribution


def stats(mean, std, interval, n=10, params=None):
    return {
        "n": n,
        "test_accuracy": {"mean": mean, "std": std, "min": mean - std, "max": mean + std, "interval": interval},
        "test_loss": {"mean": 0.3, "std": 0.01, "min": 0.29, "max": 0.31, "interval": [0.28, 0.32]},
        "params": params or {"epochs": 15},
    }


SUMMARY = {
    "confidence": 0.99,
    "cpu_models": ["cpu A", "cpu B"],
    "models": {
        "lenet-batchnorm": stats(0.8991, 0.002, [0.8923, 0.9058]),
        "lenet-tuned": stats(0.934, 0.0016, [0.9257, 0.9423], n=5),
    },
}
HAND_IN = {"lenet-batchnorm": {"loss": 0.323, "accuracy": 0.901}, "mlp": {"loss": 0.342, "accuracy": 0.886}}
COMMITTED = {
    "mlp": {"accuracy": 0.8849, "loss": 0.33},
    "lenet-batchnorm": {"accuracy": 0.9012, "loss": 0.40},
    "lenet-tuned": {"accuracy": 0.9348, "loss": 0.18},
}


def test_each_row_gives_the_spread_the_committed_run_and_where_the_hand_in_lies():
    rows = distribution.rows(SUMMARY, HAND_IN, COMMITTED)
    assert [row[0] for row in rows] == ["`lenet-batchnorm`", "`lenet-tuned`"]  # no reference for mlp: no row
    batchnorm = dict(zip(distribution.header(SUMMARY), rows[0], strict=True))
    assert batchnorm["99% interval"] == "0.8923 to 0.9058"
    assert batchnorm["committed run"] == "0.9012"
    # a loss above the interval is worse, not "above": the words hold for either metric
    assert batchnorm["hand-in against the interval"] == "accuracy 0.901 within, loss 0.323 worse"
    assert batchnorm["seed mean minus hand-in"] == "-0.0019"
    assert rows[1][-2:] == ["beyond the assignment", ""]


def test_a_model_trained_with_other_params_than_the_reference_is_marked():
    configs = {"lenet-batchnorm": {"epochs": 15}, "lenet-tuned": {"epochs": 20}}
    rows = distribution.rows(SUMMARY, HAND_IN, COMMITTED, configs)
    assert rows[0][0] == "`lenet-batchnorm`"
    assert rows[1][0] == "`lenet-tuned` (params changed since the reference)"


def test_a_value_against_an_interval_is_better_or_worse_by_the_metric_not_by_its_side():
    values = (0.05, 0.1, 0.2, 0.25)
    assert [distribution.against(v, (0.1, 0.2)) for v in values] == ["worse", "within", "within", "better"]
    assert [distribution.against(v, (0.1, 0.2), lower_is_better=True) for v in values] == [
        "better",
        "within",
        "within",
        "worse",
    ]


def test_the_tie_margin_is_two_runs_apart_at_the_intervals_confidence():
    # half-width t * s * sqrt(1 + 1/n) with t * s = 0.01 and n = 4; two runs differ by t * s * sqrt(2)
    half = 0.01 * math.sqrt(1 + 1 / 4)
    model = {"n": 4, "test_accuracy": {"interval": [0.9 - half, 0.9 + half]}}
    assert math.isclose(distribution.tie_margin(model), 0.01 * math.sqrt(2))


def test_a_new_knob_at_its_plain_value_is_the_same_network_as_the_reference_s():
    stats = {"params": {"filters": [16, 32]}}
    assert distribution.name_cell("lenet-tuned", stats, {"lenet-tuned": {"filters": [16, 32], "strides": [1, 1]}}) == (
        "`lenet-tuned`"
    )
    assert "params changed" in distribution.name_cell(
        "lenet-tuned", stats, {"lenet-tuned": {"filters": [16, 32], "strides": [2, 1]}}
    )
