"""A priced sweep: its table from DVC's experiments and the timing log, its frontier and ties, by hand."""

import csv
import io

import pytest

from ci import sweep
from stages import pricing

SWEEP = {"variant": "tuned", "target": "train_lenet@tuned", "runs": {"base": {}, "cheap": {"epochs": 20}}}


def experiment(epochs, accuracy, tta):
    """One experiment as `dvc exp show --json` gives it: its params and its metrics files."""
    metrics = {"best_val_accuracy": accuracy, "tta_val_accuracy": tta, "best_epoch": epochs, "parameters": 62170}
    return {
        "params": {"params.yaml": {"data": {"seed": 42, "lenet": {"tuned": {"epochs": epochs, "filters": [16, 32]}}}}},
        "metrics": {
            "reports/live/lenet-tuned/metrics.json": {"data": {**metrics, "training_gflop": 1500.0 * epochs}},
            "reports/live/mlp/metrics.json": {"data": {"best_val_accuracy": 0.5}},
        },
    }


def test_a_sweep_table_joins_each_run_with_its_cost_and_leaves_out_runs_not_finished():
    rows = {"s-base": experiment(30, 0.9381, 0.9395), "s-cheap": experiment(20, 0.9350, 0.9370)}
    costs = {("s-base", "lenet-tuned"): {"fit_core_seconds": 975.5, "fit_seconds": 990.1, "cpu_model": "X"}}
    table = list(csv.DictReader(io.StringIO(sweep.table("sweeps/s.yaml", SWEEP, rows, costs))))
    assert [row["experiment"] for row in table] == ["s-base", "s-cheap"]
    assert table[0]["epochs"] == "30"
    assert table[0]["fit_core_seconds"] == "975.5"
    assert table[1]["fit_core_seconds"] == ""  # no timing line: the cost is unknown, not zero
    assert table[1]["tta_val_accuracy"] == "0.937"
    assert table[1]["training_gflop"] == "30000.0"
    assert "filters" not in table[0]  # only the keys some run overrides
    assert list(csv.DictReader(io.StringIO(sweep.table("sweeps/s.yaml", SWEEP, {}, costs)))) == []


def test_overrides_become_dvc_set_params_in_yaml_flow_style():
    assert sweep.overrides_args("tuned", {"epochs": 20, "conv": ["full", "separable"]}) == [
        "-S",
        "lenet.tuned.epochs=20",
        "-S",
        "lenet.tuned.conv=[full, separable]",
    ]


def test_queueing_skips_finished_and_queued_runs_so_a_cut_off_sweep_resumes(tmp_path, monkeypatch):
    path = tmp_path / "s.yaml"
    path.write_text("variant: tuned\ntarget: train_lenet@tuned\nruns:\n  a: {}\n  b: {epochs: 20}\n  c: {epochs: 15}\n")
    calls = []
    monkeypatch.setattr(sweep, "finished", lambda: {"s-a": {}})
    monkeypatch.setattr(sweep, "queued", lambda: {"s-b"})
    monkeypatch.setattr(sweep, "dvc", lambda *args, **_: calls.append(args) or "")
    monkeypatch.setattr(sweep.subprocess, "run", lambda *args, **_: None)
    sweep.queue(path, jobs=2)
    assert calls == [("exp", "run", "--queue", "train_lenet@tuned", "-n", "s-c", "-S", "lenet.tuned.epochs=15")]


def test_a_sweep_file_without_its_keys_is_one_line_error(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("runs: {}\n")
    with pytest.raises(sweep.StageError, match=r"s.yaml: missing target, variant"):
        sweep.load_sweep(path)


def row(name, cost, accuracy, tta=None):
    return {
        "experiment": name,
        "model": "lenet-tuned",
        "epochs": "30",
        "best_val_accuracy": accuracy,
        "tta_val_accuracy": tta,
        "best_epoch": 30.0,
        "parameters": 50000.0,
        "training_gflop": 1000.0,
        "fit_core_seconds": cost,
        "cpu_model": "X",
    }


def test_the_frontier_is_the_runs_no_cheaper_run_is_as_accurate_as_and_ties_are_within_the_noise():
    rows = [
        row("base", 1000.0, 0.9380, tta=0.9400),  # ranked by its TTA figure: the best
        row("half", 500.0, 0.9390),  # cheaper, 0.0010 behind: frontier, a tie at a margin of 0.005
        row("worse", 600.0, 0.9300),  # dearer than `half` and less accurate: dominated, behind
        row("cheapest", 300.0, 0.9200),  # the cheapest is always on the frontier
        row("unpriced", None, 0.9399),  # no cost: not on the frontier, still ranked
    ]
    marked = {r["experiment"]: r for r in pricing.mark(rows, margin=0.005)}
    assert {name for name, r in marked.items() if r["frontier"]} == {"base", "half", "cheapest"}
    assert {name for name, r in marked.items() if r["tie"]} == {"base", "half", "unpriced"}
    assert marked["base"]["accuracy"] == 0.9400
    plotted = pricing.plot_rows(list(marked.values()))
    assert [p["experiment"] for p in plotted] == ["base", "half", "worse", "cheapest"]
    assert plotted[1]["status"] == "frontier, ties with the best"
    assert plotted[2]["status"] == "behind"


def test_the_report_tables_a_sweep_cheapest_first_with_its_cost_against_the_first_run():
    marked = pricing.mark([row("base", 1000.0, 0.94), row("half", 500.0, 0.935)], margin=0.01)
    marked[1]["epochs"] = "15"
    text = pricing.section(pricing.SWEEPS_DIR / "s.csv", marked, 0.01, lambda header, rows: repr(rows))
    assert "`half`', 'epochs 15', '50,000', '1,000', '500', '0.50', '0.9350', 'tie (-0.0050)', 'yes'" in text
    assert "'the baseline'" in text
    assert "less than 0.0100 behind the best is a tie" in text


def test_a_sweep_with_seeds_queues_each_run_once_a_seed_with_a_top_level_training_seed():
    names = sweep.run_names("sweeps/fin.yaml", {**SWEEP, "seeds": [42, 44]})
    assert list(names) == ["fin-base-seed42", "fin-base-seed44", "fin-cheap-seed42", "fin-cheap-seed44"]
    assert names["fin-cheap-seed42"] == {"epochs": 20}  # params.yaml's seed: the plain run, from the run-cache
    assert sweep.overrides_args("tuned", names["fin-cheap-seed44"]) == [
        "-S",
        "lenet.tuned.epochs=20",
        "-S",
        "training_seed=44",
    ]


def test_finalists_on_several_seeds_are_ranked_by_their_mean_and_tie_within_the_noise_of_two_means():
    runs = [
        {**row("fin-a-seed42", 400.0, 0.9380), "seed": "42"},
        {**row("fin-a-seed43", 420.0, 0.9390), "seed": "43"},
        {**row("fin-b-seed42", 300.0, 0.9360), "seed": "42"},
        {**row("fin-b-seed43", 320.0, 0.9350), "seed": "43"},
    ]
    text = pricing.seeds_section(pricing.SWEEPS_DIR / "fin.csv", runs, 0.004, lambda header, rows: repr(rows))
    # a: mean 0.9385 +- 0.0007; b: 0.9355, 0.0030 behind; noise 0.004 * sqrt((1/2 + 1/2) / 2) = 0.0028: behind
    assert "['`fin-a`', 'the baseline', '42, 43', '0.9385 ± 0.0007', '410', 'best']" in text
    assert "'0.9355 ± 0.0007', '310', 'behind (-0.0030; noise 0.0028)']" in text


def test_a_change_of_depth_alone_is_not_a_change_of_each_layer():
    baseline = {"kernel_size": "[3, 3, 3, 3, 3]", "filters": "[16, 32, 32, 48, 64]", "epochs": "30"}
    shallower = {"kernel_size": "[3, 3, 3, 3]", "filters": "[16, 32, 48, 64]", "epochs": "30"}
    assert pricing.changes(shallower, baseline, list(baseline)) == "filters [16, 32, 48, 64]"
