"""The reproduction verdict and the reference summary it reads, on hand-made locks and runs."""

import copy
import json
import math

import pytest
from conftest import PARAMS

from ci import verify
from stages import models
from stages.common import StageError
from stages.comparison import t_quantile
from stages.reference_format import load_summary, prediction_interval
from stages.reference_summary import describe, summarise

MODELS = models.names(PARAMS)
# Ten values of mean 0 and standard deviation 1, so that hand-made runs have the std a test wants.
_RAW = [-1.5, -1.0, -0.6, -0.3, 0.0, 0.1, 0.3, 0.6, 1.0, 1.4]
_MEAN = sum(_RAW) / len(_RAW)
_SD = math.sqrt(sum((x - _MEAN) ** 2 for x in _RAW) / (len(_RAW) - 1))
NORMALISED = [(x - _MEAN) / _SD for x in _RAW]


def value_of(raw_params, key):
    node = raw_params
    for part in key.split("."):
        node = node[part]
    return node


def lock(raw_params=PARAMS):
    """A dvc.lock shaped as dvc.yaml makes it: each stage's deps, the params it reads (from `raw_params`) and outs."""
    stages = {
        "download": ([], [], ["data/raw"]),
        "preprocess": (["data/raw"], ["seed", "data"], ["data/prepared"]),
        "scratch_backprop": ([], ["cpu_isa", "scratch"], ["reports/scratch_backprop.json"]),
        "plot_samples": (["data/raw"], ["plots.samples_grid"], ["reports/samples.json"]),
    }
    for model in models.names(raw_params):
        train, evaluate = models.stages(model).values()
        trained = [f"models/{model}.keras", f"reports/training/{model}"]
        reads = ["cpu_isa", "seed", "training_seed", "train", models.params_key(model)]
        stages[train] = (["data/prepared/train.npz"], reads, trained)
        stages[evaluate] = (trained, ["cpu_isa", "evaluate", "plots.predictions_grid"], [f"reports/metrics/{model}"])
    return {
        "stages": {
            stage: {
                "deps": [{"path": path, "md5": "input"} for path in deps],
                "params": {"params.yaml": {key: copy.deepcopy(value_of(raw_params, key)) for key in reads}},
                "outs": [{"path": path, "md5": "committed"} for path in outs],
            }
            for stage, (deps, reads, outs) in stages.items()
        }
    }


def other_bits(current, *stages):
    for stage in stages:
        current["stages"][stage]["outs"][0]["md5"] = "other bits"
    return current


def run_record(model, seed, accuracy, loss):
    bits = {"cpu_model": "GenuineIntel family 6 model 167"}
    return {"model": model, "seed": seed, "test": {"accuracy": accuracy, "loss": loss}, "bits_decided_by": bits,
            "code_version": "abc"}  # fmt: skip


@pytest.fixture
def summary():
    runs = {"mlp": [run_record("mlp", s, 0.885 + 0.001 * (s % 3), 0.33 - 0.002 * (s % 2)) for s in range(42, 52)]}
    return summarise(runs, PARAMS, 0.99)


def metrics(accuracy, loss):
    return {"test": {"accuracy": accuracy, "loss": loss}}


COMMITTED = metrics(0.8849, 0.3277)


def judge(summary, current, mlp_metrics=COMMITTED, raw_params=PARAMS, stale=()):
    """({name: verdict}, {name: detail}, exit status) for `current` against the committed run `lock()`."""

    def read_metrics(model):
        return COMMITTED, mlp_metrics if model == "mlp" else metrics(0.9, 0.3)

    lines, _ = verify.verdicts(lock(), current, summary, raw_params, read_metrics, stale)
    return {n: v for n, v, _ in lines}, {n: d for n, _, d in lines}, verify.exit_status(lines)


def test_the_interval_is_a_prediction_interval_for_one_more_run():
    stats = describe([0.88, 0.89, 0.90], 0.99)
    half = t_quantile(0.99, 2) * 0.01 * (1 + 1 / 3) ** 0.5
    assert stats["mean"] == pytest.approx(0.89)
    assert stats["std"] == pytest.approx(0.01)
    assert stats["interval"] == pytest.approx([0.89 - half, 0.89 + half], abs=1e-5)
    assert t_quantile(0.99, 9) == pytest.approx(3.2498, abs=1e-4)  # the two-sided 99% quantile, 9 dof


def test_the_false_alarm_rate_of_a_whole_run_is_shared_among_the_figures_judged():
    # Five models, accuracy and loss: 10 figures at 1 - 0.01/10 = 99.9% each. From n = 10 runs of mean 0.9 and
    # std 0.01, t's two-sided 99.9% quantile with 9 dof is 4.781 (a printed t table's 0.0005 column), so the
    # interval is 0.9 +- 4.781 * 0.01 * sqrt(1.1) = 0.9 +- 0.05014.
    assert verify.per_figure_level(10) == pytest.approx(0.999)
    assert prediction_interval(0.9, 0.01, 10, 0.999) == pytest.approx((0.84986, 0.95014), abs=1e-5)
    # One model, 2 figures: 99.5% each; the table's 0.0025 column gives 3.690, so 0.9 +- 0.03870.
    assert verify.per_figure_level(2) == pytest.approx(0.995)
    assert prediction_interval(0.9, 0.01, 10, 0.995) == pytest.approx((0.86130, 0.93870), abs=1e-5)
    # Bonferroni: a healthy run misses each interval with probability 1 - level, so all of them with at most
    # the sum, 1%, whatever the correlation between the figures.
    for figures in (2, 4, 10):
        assert figures * (1 - verify.per_figure_level(figures)) == pytest.approx(verify.FALSE_ALARM_RATE)


def test_the_level_follows_the_number_of_models_judged():
    """0.94 from mean 0.9, std 0.01, n 10: inside 99.9% (five models judged), outside 99.5% (one model)."""
    runs = {
        model: [run_record(model, seed, 0.9 + 0.01 * z, 0.3) for seed, z in zip(range(42, 52), NORMALISED, strict=True)]
        for model in MODELS
    }
    summary = summarise(runs, PARAMS, 0.99)
    assert summary["models"]["mlp"]["test_accuracy"]["std"] == pytest.approx(0.01)
    assert summary["models"]["mlp"]["test_loss"]["std"] == 0

    def read_metrics(model):
        return metrics(0.9, 0.3), metrics(0.94 if model == "mlp" else 0.9, 0.3)

    every_model = other_bits(lock(), *(models.stages(m)["train"] for m in MODELS))
    lines, figures = verify.verdicts(lock(), every_model, summary, PARAMS, read_metrics)
    assert figures == 2 * len(MODELS)
    assert {v for _, v, _ in lines[1:]} == {verify.WITHIN}
    lines, figures = verify.verdicts(lock(), other_bits(lock(), "train_mlp"), summary, PARAMS, read_metrics)
    assert figures == 2
    assert {n: v for n, v, _ in lines}["mlp"] == verify.OUTSIDE


def test_an_unchanged_run_is_identical(summary):
    verdicts, _, status = judge(summary, lock())
    assert set(verdicts.values()) == {verify.IDENTICAL}
    assert status == 0


def test_the_same_model_on_another_cpu_is_identical_though_its_record_names_that_cpu(summary):
    current = lock()
    current["stages"]["train_mlp"]["outs"][1]["md5"] = "this CPU's record"
    verdicts, details, _ = judge(summary, current)
    assert verdicts["mlp"] == verify.IDENTICAL
    assert "the training record names this CPU" in details["mlp"]


def test_other_bits_with_a_normal_accuracy_are_within_and_a_broken_run_is_outside(summary):
    current = other_bits(lock(), "train_mlp")
    verdicts, details, status = judge(summary, current, metrics(0.8861, 0.3290))
    assert (verdicts["mlp"], status) == (verify.WITHIN, 0)
    assert "committed 0.8849" in details["mlp"]
    verdicts, _, status = judge(summary, current, metrics(0.7, 0.9))
    assert (verdicts["mlp"], status) == (verify.OUTSIDE, 1)
    verdicts, _, _ = judge(summary, current, metrics(0.8861, 0.9))  # the loss alone is enough
    assert verdicts["mlp"] == verify.OUTSIDE


def test_a_quick_experiment_is_not_judged_on_any_line_and_names_its_keys(summary):
    """The issue's run: quick data, another seed, Part 1 and plot params changed; every output differs."""
    experiment = copy.deepcopy(PARAMS)
    experiment["seed"] = 11
    experiment["data"]["max_train_samples"] = 3000
    experiment["scratch"]["gradcheck_epsilon"] = 1e-5
    experiment["plots"]["samples_grid"] = 4
    experiment["plots"]["predictions_grid"] = 4
    experiment["mlp"]["epochs"] = 2
    current = lock(experiment)
    for entry in current["stages"].values():
        entry["outs"][0]["md5"] = "other bits"
    verdicts, details, status = judge(summary, current, metrics(0.5, 2.0), experiment)
    assert set(verdicts.values()) == {verify.NOT_JUDGED}
    assert status == 0
    keys = "data.max_train_samples, plots.samples_grid, scratch.gradcheck_epsilon, seed"
    assert details[verify.PORTABLE] == f"an experiment: params differ from the committed run's ({keys})"
    assert details["mlp"].endswith("(data.max_train_samples, mlp.epochs, plots.predictions_grid, seed)")
    assert details["lenet-base"].endswith("(data.max_train_samples, plots.predictions_grid, seed)")


def test_a_change_to_part_1_alone_leaves_the_models_judged(summary):
    experiment = copy.deepcopy(PARAMS)
    experiment["scratch"]["gradcheck_epsilon"] = 1e-5
    current = other_bits(lock(experiment), "scratch_backprop")
    verdicts, details, status = judge(summary, current, raw_params=experiment)
    assert verdicts[verify.PORTABLE] == verify.NOT_JUDGED
    assert "(scratch.gradcheck_epsilon)" in details[verify.PORTABLE]
    assert {verdicts[m] for m in MODELS} == {verify.IDENTICAL}
    assert status == 0


def test_before_any_run_every_line_says_run_make_repro(summary):
    """A fresh clone: dvc.lock is the committed one, but dvc status finds every stage's outputs missing."""
    everything = set(lock()["stages"])
    for current, stale in ((lock(), everything), ({}, set())):
        verdicts, details, status = judge(summary, current, stale=stale)
        assert set(verdicts.values()) == {verify.NOT_REPRODUCED}
        assert all(detail.startswith("run make repro") for detail in details.values())
        assert status == 2


def test_a_stale_stage_is_not_reproduced_and_so_is_everything_after_it(summary):
    verdicts, details, status = judge(summary, lock(), stale={"evaluate_mlp"})
    assert verdicts["mlp"] == verify.NOT_REPRODUCED
    assert "evaluate_mlp" in details["mlp"]
    assert verdicts["lenet-base"] == verify.IDENTICAL
    assert status == 0  # something was reproduced, and nothing is OUTSIDE
    verdicts, _, status = judge(summary, lock(), stale={"preprocess"})
    assert set(verdicts.values()) == {verify.NOT_REPRODUCED}
    assert status == 2


def test_a_portable_output_with_other_bits_under_the_committed_params_is_outside(summary):
    current = other_bits(lock(), "preprocess")
    downstream = set(lock()["stages"]) - set(verify.PORTABLE_STAGES)  # their input changed: dvc status says so
    verdicts, details, status = judge(summary, current, stale=downstream)
    assert verdicts[verify.PORTABLE] == verify.OUTSIDE
    assert details[verify.PORTABLE].endswith("differ: preprocess")
    assert status == 1


def test_a_model_the_reference_lacks_or_made_with_other_params_is_not_judged(summary):
    current = other_bits(lock(), "train_mlp", "train_lenet@base")
    verdicts, details, status = judge(summary, current, metrics(0.5, 2.0))
    assert verdicts["lenet-base"] == verify.NOT_JUDGED  # no reference for it in this summary
    assert "the reference holds no such model" in details["lenet-base"]
    assert (verdicts["mlp"], status) == (verify.OUTSIDE, 1)
    other = copy.deepcopy(summary)
    other["models"]["mlp"]["params"]["epochs"] = 3
    other["split"]["data"]["max_train_samples"] = 3000
    verdicts, details, status = judge(other, current, metrics(0.5, 2.0))
    assert verdicts["mlp"] == verify.NOT_JUDGED
    assert details["mlp"] == "the reference was made with other params (data.max_train_samples, mlp.epochs)"
    assert status == 0


def test_optional_keys_absent_from_the_reference_and_absent_or_null_now_are_no_difference():
    variant = next(v for v, config in PARAMS["lenet"].items() if "conv" not in config)
    model = f"lenet-{variant}"
    summary = summarise({model: [run_record(model, s, 0.9 + 0.001 * (s % 2), 0.3) for s in (42, 43)]}, PARAMS, 0.99)
    assert "conv" not in summary["models"][model]["params"]
    stats, now = summary["models"][model], copy.deepcopy(PARAMS)
    assert verify.reference_differs(model, stats, summary, now) == []  # absent from both
    now["lenet"][variant]["conv"] = None  # at its absent default
    assert verify.reference_differs(model, stats, summary, now) == []
    now["lenet"][variant]["conv"] = ["separable"] * len(now["lenet"][variant]["filters"])
    assert verify.reference_differs(model, stats, summary, now) == [f"lenet.{variant}.conv"]


def test_a_variant_the_committed_run_lacks_is_an_experiment(summary):
    experiment = copy.deepcopy(PARAMS)
    experiment["lenet"]["wide"] = copy.deepcopy(PARAMS["lenet"]["base"])
    verdicts, details, _ = judge(summary, lock(experiment), raw_params=experiment)
    assert verdicts["lenet-wide"] == verify.NOT_JUDGED
    assert details["lenet-wide"] == "an experiment: lenet-wide is not in the committed run"


def test_a_missing_or_damaged_summary_is_a_one_line_error(tmp_path, summary):
    with pytest.raises(StageError, match=r"cannot read the reference summary"):
        load_summary(tmp_path / "none.json")
    damaged = tmp_path / "summary.json"
    damaged.write_text(json.dumps({**summary, "models": {"mlp": {"n": 10}}}))
    missing_seeds = r"summary.json: not a reference summary \(models\.mlp\.seeds: Field required\)"
    with pytest.raises(StageError, match=missing_seeds):
        load_summary(damaged)
    damaged.write_text("{")
    with pytest.raises(StageError, match=r"not a reference summary") as error:
        load_summary(damaged)
    assert "\n" not in str(error.value)


def test_the_summary_needs_two_runs_a_model_and_names_where_they_came_from(summary):
    one = summarise({"mlp": [run_record("mlp", 42, 0.88, 0.33)]}, PARAMS, 0.99)
    assert one["models"] == {}
    assert summary["models"]["mlp"]["n"] == 10
    assert summary["cpu_models"] == ["GenuineIntel family 6 model 167"]
    assert summary["code_versions"] == ["abc"]
    assert summary["split"] == {"seed": PARAMS["seed"], "data": PARAMS["data"]}


def with_signs(record, gap, rise, epoch):
    return {**record, "overfitting": {"accuracy_gap": gap, "val_loss_rise": rise, "min_val_loss_epoch": epoch}}


def test_the_summary_gives_the_overfitting_signs_over_seeds_only_when_every_record_holds_them(tmp_path):
    records = [
        with_signs(run_record("mlp", 42, 0.88, 0.33), 0.02, 0.010, 8),
        with_signs(run_record("mlp", 43, 0.89, 0.32), 0.04, 0.030, 10),
    ]
    signs = summarise({"mlp": records}, PARAMS, 0.99)["models"]["mlp"]["overfitting"]
    # two values a and b: mean (a + b) / 2, sd |a - b| / sqrt(2)
    assert signs["accuracy_gap"] == pytest.approx({"mean": 0.03, "std": 0.01414}, abs=1e-5)
    assert signs["val_loss_rise"] == pytest.approx({"mean": 0.02, "std": 0.01414}, abs=1e-5)
    assert signs["min_val_loss_epoch"] == pytest.approx({"mean": 9.0, "std": 1.41421}, abs=1e-5)
    older = summarise({"mlp": [records[0], run_record("mlp", 43, 0.89, 0.32)]}, PARAMS, 0.99)
    assert "overfitting" not in older["models"]["mlp"]  # one record made before the field: no signs at all
    # both kinds pass the schema verify reads
    for summary in (summarise({"mlp": records}, PARAMS, 0.99), older):
        path = tmp_path / "summary.json"
        path.write_text(json.dumps(summary))
        assert load_summary(path).models["mlp"].n == 2
