"""The reproduction verdict and the reference summary it reads, on hand-made locks and runs."""

import json

import pytest
from conftest import PARAMS

from ci import verify
from stages.common import StageError
from stages.reference_format import load_summary
from stages.reference_summary import describe, summarise, t_quantile

MODELS = ["mlp", *(f"lenet-{v}" for v in PARAMS["lenet"])]


def lock(**stage_hashes):
    return {"stages": {stage: {"outs": [{"path": f"{stage}.out", "md5": md5}]} for stage, md5 in stage_hashes.items()}}


def committed_lock():
    stages = [*verify.PORTABLE_STAGES, *(s for m in MODELS for s in verify.model_stages(m))]
    return lock(**dict.fromkeys(stages, "committed"))


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


def judge(summary, current, mlp_metrics, raw_params=PARAMS, stale=()):
    def read_metrics(model):
        return metrics(0.8849, 0.3277), mlp_metrics if model == "mlp" else metrics(0.9, 0.3)

    lines = verify.verdicts(committed_lock(), current, summary, raw_params, read_metrics, stale)
    return {name: verdict for name, verdict, _ in lines}, lines


def test_the_interval_is_a_prediction_interval_for_one_more_run():
    stats = describe([0.88, 0.89, 0.90], 0.99)
    half = t_quantile(0.99, 2) * 0.01 * (1 + 1 / 3) ** 0.5
    assert stats["mean"] == pytest.approx(0.89)
    assert stats["std"] == pytest.approx(0.01)
    assert stats["interval"] == pytest.approx([0.89 - half, 0.89 + half], abs=1e-5)
    assert t_quantile(0.99, 9) == pytest.approx(3.2498, abs=1e-4)  # the two-sided 99% quantile, 9 dof


def test_an_unchanged_run_is_identical(summary):
    verdicts, _ = judge(summary, committed_lock(), metrics(0.8849, 0.3277))
    assert set(verdicts.values()) == {verify.IDENTICAL}


def test_the_same_model_on_another_cpu_is_identical_though_its_record_names_that_cpu(summary):
    current = committed_lock()
    current["stages"]["train_mlp"]["outs"].append({"path": "reports/training/mlp", "md5": "this CPU's record"})
    committed = committed_lock()
    committed["stages"]["train_mlp"]["outs"].append({"path": "reports/training/mlp", "md5": "the committed record"})
    lines = verify.verdicts(committed, current, summary, PARAMS, lambda m: (metrics(0.8849, 0.3277),) * 2)
    verdicts = {name: (verdict, detail) for name, verdict, detail in lines}
    assert verdicts["mlp"][0] == verify.IDENTICAL
    assert "the training record names this CPU" in verdicts["mlp"][1]


def test_other_bits_with_a_normal_accuracy_are_within_and_a_broken_run_is_outside(summary):
    current = committed_lock()
    current["stages"]["train_mlp"]["outs"][0]["md5"] = "other bits"
    verdicts, lines = judge(summary, current, metrics(0.8861, 0.3290))
    assert verdicts["mlp"] == verify.WITHIN
    assert "committed 0.8849" in {n: d for n, _, d in lines}["mlp"]
    verdicts, _ = judge(summary, current, metrics(0.7, 0.9))
    assert verdicts["mlp"] == verify.OUTSIDE
    verdicts, _ = judge(summary, current, metrics(0.8861, 0.9))  # the loss alone is enough
    assert verdicts["mlp"] == verify.OUTSIDE


def test_changed_params_or_a_model_the_reference_lacks_are_not_judged(summary):
    current = committed_lock()
    for stage in ("train_mlp", "train_lenet@base"):
        current["stages"][stage]["outs"][0]["md5"] = "other bits"
    experiment = {**PARAMS, "mlp": {**PARAMS["mlp"], "epochs": 3}}
    verdicts, lines = judge(summary, current, metrics(0.5, 2.0), experiment)
    assert verdicts["mlp"] == verify.NOT_JUDGED
    assert "mlp.epochs" in {n: d for n, _, d in lines}["mlp"]
    assert verdicts["lenet-base"] == verify.NOT_JUDGED  # no reference for it in this summary
    other_split = {**PARAMS, "seed": 7}
    verdicts, _ = judge(summary, current, metrics(0.8861, 0.3290), other_split)
    assert verdicts["mlp"] == verify.NOT_JUDGED


def test_portable_outputs_must_be_identical_and_stale_stages_are_not_judged(summary):
    current = committed_lock()
    current["stages"]["preprocess"]["outs"][0]["md5"] = "other bits"
    verdicts, _ = judge(summary, current, metrics(0.8849, 0.3277), stale={"evaluate_mlp"})
    assert verdicts["data and Part 1"] == verify.OUTSIDE
    assert verdicts["mlp"] == verify.NOT_JUDGED


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
