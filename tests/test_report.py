from stages.curves import overfitting_signs
from stages.report_text import (
    changes_from,
    inference_knobs,
    regularisers,
    seed_study_section,
    sweep_section,
    verdict,
)


def history(train_acc, val_acc, train_loss, val_loss):
    return [
        {"epoch": i + 1, "accuracy": a, "val_accuracy": va, "loss": lo, "val_loss": vl}
        for i, (a, va, lo, vl) in enumerate(zip(train_acc, val_acc, train_loss, val_loss, strict=False))
    ]


OVERFITTING = history([0.85, 0.90, 0.95], [0.86, 0.88, 0.87], [0.40, 0.25, 0.12], [0.38, 0.33, 0.41])
STEADY = history([0.80, 0.83, 0.85], [0.84, 0.86, 0.87], [0.55, 0.48, 0.44], [0.43, 0.38, 0.35])


def test_signs_are_read_from_the_curves():
    signs = overfitting_signs(OVERFITTING)
    assert signs["min_val_loss_epoch"] == 2
    assert round(signs["val_loss_rise"], 4) == 0.08
    assert round(signs["accuracy_gap"], 4) == 0.08
    assert signs["epochs"] == 3


CONFIGS = {
    "lenet-base": {"dropout": 0.0, "batch_norm": False},
    "lenet-dropout": {"dropout": 0.5, "batch_norm": False},
    "lenet-batchnorm": {"dropout": 0.0, "batch_norm": True},
}


def test_verdict_names_the_variant_whose_curves_overfit_less():
    signs = {
        "lenet-base": overfitting_signs(OVERFITTING),
        "lenet-dropout": overfitting_signs(STEADY),
        "lenet-batchnorm": overfitting_signs(OVERFITTING),
    }
    text = verdict(signs, CONFIGS)
    assert "Both signs agree: **lenet-dropout** overfits least" in text
    assert "Unregularised **lenet-base**" in text
    assert "the classic signs of overfitting" in text
    signs["lenet-dropout"], signs["lenet-batchnorm"] = signs["lenet-batchnorm"], signs["lenet-dropout"]
    assert "**lenet-batchnorm** overfits least" in verdict(signs, CONFIGS)


def test_verdict_says_so_when_the_signs_disagree():
    mixed = history([0.85, 0.90, 0.99], [0.86, 0.88, 0.89], [0.40, 0.25, 0.12], [0.38, 0.30, 0.29])
    signs = {
        "lenet-base": overfitting_signs(STEADY),
        "lenet-dropout": overfitting_signs(mixed),
        "lenet-batchnorm": overfitting_signs(OVERFITTING),
    }
    text = verdict(signs, CONFIGS)
    assert "The signs disagree" in text
    assert "little sign of overfitting" in text


def test_verdict_covers_any_set_of_variants():
    signs = {
        "lenet-a": overfitting_signs(OVERFITTING),
        "lenet-b": overfitting_signs(STEADY),
        "lenet-c": overfitting_signs(STEADY),
    }
    configs = {
        "lenet-a": {},
        "lenet-b": {"augment": {"translate": 0.1, "flip": True}, "weight_decay": 1e-4},
        "lenet-c": {"dense_dropout": 0.3, "label_smoothing": 0.1},
    }
    text = verdict(signs, configs)
    assert "augmentation: random shifts up to 10% of the side and horizontal flips; weight decay 0.0001" in text
    assert "dropout 0.3 before each hidden dense layer; label smoothing 0.1 (**lenet-c**)" in text
    assert regularisers({}) == []


def test_changes_from_the_reference_name_each_knob_with_a_reason():
    text = changes_from(
        {"kernel_size": [5, 5], "dropout": 0.0, "augment": {"flip": False}},
        {"kernel_size": [3, 3], "dropout": 0.0, "augment": {"flip": True}},
    )
    lines = text.splitlines()
    assert lines[0].startswith("- `kernel_size`: [5, 5] -> [3, 3]: two stacked 3x3 convs")
    assert lines[1].startswith("- `augment`: {flip: False} -> {flip: True}: mirrored garments")
    assert len(lines) == 2


def test_the_sweep_table_ranks_runs_by_validation_accuracy():
    score = "reports/validation/lenet-tuned.json:best_val_accuracy"
    rows = [
        {"Experiment": "a", score: "0.91", "lenet.tuned.dropout": "0.1"},
        {"Experiment": "", score: "", "lenet.tuned.dropout": "0.1"},
        {"Experiment": "b", score: "0.93", "lenet.tuned.dropout": "0.2"},
    ]
    text = sweep_section(rows, {})
    assert "### The sweep behind lenet-tuned" in text
    # the csv's 0.93 shows with the column's four decimals
    assert text.index("| b | 0.2 | 0.9300 | best |") < text.index("| a | 0.1 | 0.9100 | behind (-0.0200) |")
    assert "| experiment | dropout | best val accuracy | against the best |" in text
    assert sweep_section([], {}) == ""
    assert sweep_section(rows[1:2], {}) == ""


def test_a_sweep_run_within_the_seed_noise_of_the_best_is_a_tie():
    score = "reports/live/lenet-tuned/metrics.json:best_val_accuracy"
    rows = [{"Experiment": name, score: value, "lenet.tuned.dropout": "0.1"} for name, value in
            [("best", "0.9400"), ("close", "0.9390"), ("far", "0.9300")]]  # fmt: skip
    # n = 2, interval half-width 0.006 * sqrt(1 + 1/2): the margin is 0.006 * sqrt(2) = 0.0085
    reference = {
        "lenet-tuned": {"n": 2, "test_accuracy": {"interval": [0.934 - 0.006 * 1.5**0.5, 0.934 + 0.006 * 1.5**0.5]}}
    }
    text = sweep_section(rows, reference)
    assert "| close | 0.1 | 0.9390 | tie (-0.0010) |" in text
    assert "| far | 0.1 | 0.9300 | behind (-0.0100) |" in text
    assert "less than 0.0085 behind the best is a tie" in text


def test_runs_with_flip_tta_are_ranked_by_the_saved_models_validation_accuracy():
    best, tta = (f"reports/live/lenet-tuned/metrics.json:{key}" for key in ("best_val_accuracy", "tta_val_accuracy"))
    rows = [
        {"Experiment": "plain", best: "0.9400", tta: "", "lenet.tuned.test_time_flip": "False"},
        {"Experiment": "flip", best: "0.9390", tta: "0.9420", "lenet.tuned.test_time_flip": "True"},
        {"Experiment": "running", best: "!", tta: "!", "lenet.tuned.test_time_flip": "True"},
    ]
    text = sweep_section(rows, {})
    assert "| experiment | test_time_flip | best val accuracy | with flip TTA | against the best |" in text
    assert text.index("| flip | True | 0.9390 | 0.9420 |") < text.index("| plain | False | 0.9400 | - |")
    assert "running" not in text


def test_the_report_explains_the_weight_average_and_flip_tta_from_the_outputs():
    config = {"ema_momentum": 0.999, "test_time_flip": True, "batch_size": 128}
    summary = {"best_val_accuracy": 0.9402, "tta_val_accuracy": 0.9431}
    ema, flip = inference_knobs(config, summary, 48_000)
    # 1,000 steps are more than an epoch's 375: said in epochs, not as "1,000 of the 375"
    assert "momentum 0.999: mostly the last 1,000 steps, about 2.7 epochs of 375 steps)" in ema
    (short,) = inference_knobs({**config, "ema_momentum": 0.99, "test_time_flip": False}, summary, 48_000)
    assert "momentum 0.99: mostly the last 100 of the 375 steps an epoch)" in short
    assert "validation accuracy 0.9431 with it, 0.9402 from the image alone" in flip
    assert inference_knobs({"ema_momentum": 0.0, "test_time_flip": False, "batch_size": 32}, summary, 48_000) == []


def test_a_study_on_several_seeds_ranks_settings_by_their_mean_and_calls_close_means_a_tie():
    score = "reports/live/lenet-batchnorm/metrics.json:best_val_accuracy"
    runs = [("slow-1", "42", "32", "0.9000"), ("slow-2", "43", "32", "0.9020"),
            ("fast-1", "42", "128", "0.9100"), ("fast-2", "43", "128", "0.9080"),
            ("mid-1", "42", "64", "0.9080"), ("mid-2", "43", "64", "0.9090")]  # fmt: skip
    rows = [{"Experiment": n, score: v, "seed": seed, "lenet.batchnorm.batch_size": b} for n, seed, b, v in runs]
    # one run's margin 0.01 (n = 2: half-width 0.01 * sqrt(1.5) / sqrt(2)); two means of 2 runs: 0.01 * sqrt(1/2)
    half = 0.01 * (1.5 / 2) ** 0.5
    reference = {"lenet-batchnorm": {"n": 2, "test_accuracy": {"interval": [0.9 - half, 0.9 + half]}}}
    text = seed_study_section(rows, reference, "reports/schedule_study.csv")
    assert "### The schedule study behind lenet-batchnorm" in text
    assert "| fast | 128 | 42, 43 | 0.9090 ± 0.0014 | best |" in text
    assert "| mid | 64 | 42, 43 | 0.9085 ± 0.0007 | tie (-0.0005; noise 0.0071) |" in text
    assert "| slow | 32 | 42, 43 | 0.9010 ± 0.0014 | behind (-0.0080; noise 0.0071) |" in text
    assert seed_study_section([{k: v for k, v in row.items() if k != "seed"} for row in rows], reference, "x") == ""
    assert seed_study_section([], reference, "x") == ""
