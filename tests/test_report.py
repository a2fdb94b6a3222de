import copy

from conftest import PARAMS

from stages import params, report
from stages.curves import overfitting_signs
from stages.report_text import (
    changes_from,
    comparisons_section,
    inference_knobs,
    overfitting_section,
    regularisers,
    seed_study_section,
    sweep_section,
    verdict,
    why,
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
    assert "The signs do not single out one variant (lenet-batchnorm the smallest accuracy gap, lenet-dropout" in text
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


# The prose over whole params sets: the committed params.yaml, and two others a user could write.
def configs_of(raw):
    return {f"lenet-{v}": params.check(raw, f"lenet.{v}").record() for v in raw["lenet"]}


def params_set(**changes):
    """params.yaml's lenet section with `changes` ({variant: {key: value}}) applied."""
    raw = copy.deepcopy(PARAMS)
    for variant, keys in changes.items():
        raw["lenet"][variant].update(keys)
    return configs_of(raw)


def test_the_why_names_each_dropout_rate_with_its_model_and_never_lists_two_rates_as_one():
    two_rates = why(params_set(dropout={"dropout": 0.5}, tuned={"dropout": 0.1}))
    shares = "a random share of the activations (50% in lenet-dropout, 10% in lenet-tuned)"
    assert f"Dropout zeroes {shares} at every training step" in two_rates
    one_rate = why(params_set(dropout={"dropout": 0.5}, tuned={"dropout": 0.5}))
    assert "Dropout zeroes a random 50% of the activations at every training step" in one_rate
    no_dropout = why(params_set(dropout={"dropout": 0.0}, tuned={"dropout": 0.0}))
    assert "Dropout" not in no_dropout
    assert "Batch normalisation standardises" in no_dropout


def test_augmentation_is_explained_by_what_the_variants_use():
    flips = why({"lenet-a": {"augment": {"translate": 0.0, "flip": True}}})
    assert "invariant to mirroring rather than" in flips
    shifts = why({"lenet-a": {"augment": {"translate": 0.1, "flip": False}}})
    assert "invariant to small shifts rather than" in shifts
    assert why({"lenet-a": {}}) == ""


def test_a_validation_loss_still_at_its_minimum_and_a_negative_gap_read_as_words():
    level = history([0.80, 0.86], [0.84, 0.86], [0.5, 0.4], [0.45, 0.38])
    text = verdict({"lenet-base": overfitting_signs(level)}, {"lenet-base": {}})
    assert "validation loss ends at its lowest (epoch 2 of 2)" in text
    assert "training and validation accuracy end level" in text
    below = verdict({"lenet-base": overfitting_signs(STEADY)}, {"lenet-base": {}})
    assert "training accuracy ends 2.0 points below validation accuracy" in below
    assert "+0.0000" not in text
    assert "-2.0 points" not in below


def test_a_change_the_other_way_from_the_reason_is_given_no_reason():
    base = configs_of(PARAMS)["lenet-base"]
    text = changes_from(base, {**base, "batch_size": 16, "learning_rate": 0.0005, "optimizer": "sgd"})
    assert "- `batch_size`: 32 -> 16: smaller batches take more and noisier steps an epoch" in text
    assert "- `learning_rate`: 0.001 -> 0.0005: a lower rate takes smaller, steadier steps" in text
    assert "- `optimizer`: adam -> sgd\n" in text + "\n"
    assert "larger batches" not in text
    assert "AdamW" not in text
    shifted = changes_from(base, {**base, "augment": {"translate": 0.1, "flip": False}})
    assert "a garment shifted by a few pixels is still the same garment" in shifted
    assert "flips" not in shifted


def reference(n, accuracy, loss, gap=None, rise=None, epoch=None, epochs=15):
    """A model's entry in reference/summary.json: (mean, sd) pairs; the overfitting signs when given."""
    entry = {
        "n": n,
        "test_accuracy": {"mean": accuracy[0], "std": accuracy[1]},
        "test_loss": {"mean": loss[0], "std": loss[1]},
        "params": {"epochs": epochs},
    }
    if gap:
        entry["overfitting"] = {
            "accuracy_gap": {"mean": gap[0], "std": gap[1]},
            "val_loss_rise": {"mean": rise[0], "std": rise[1]},
            "min_val_loss_epoch": {"mean": epoch[0], "std": epoch[1]},
        }
    return entry


def test_the_comparisons_over_seeds_give_the_difference_its_interval_and_a_verdict():
    summary = {
        "confidence": 0.99,
        "models": {
            "mlp": reference(5, (0.880, 0.005), (0.33, 0.005)),
            "lenet-base": reference(5, (0.890, 0.005), (0.28, 0.005)),
            "lenet-dropout": reference(5, (0.891, 0.005), (0.30, 0.005)),
        },
    }
    names = ["mlp", "lenet-base", "lenet-dropout", "lenet-batchnorm"]  # batch-norm has no reference runs
    text = comparisons_section(summary, names)
    # 0.01 apart, s = 0.005, n = 5: +-0.0106 (test_comparison works it by hand): holds 0, a tie
    assert "| `lenet-base` against `mlp` | 5 and 5 | +0.0100 | -0.0006 to +0.0206 | tie | -0.0500 |" in text
    assert "-0.0606 to -0.0394 | better |" in text  # a lower loss, wholly: better
    assert "- `lenet-dropout` against `lenet-base`: test accuracy a tie (+0.0010, inside the noise); " in text
    assert "test loss worse by 0.0200." in text
    assert "batchnorm" not in text
    assert comparisons_section(summary, ["mlp"]) == ""


def lenet_outputs(configs):
    return {name: {"history": OVERFITTING, "training": {"config": config}} for name, config in configs.items()}


def test_overfitting_over_seeds_says_which_variant_reduces_the_gap():
    configs = configs_of(PARAMS)
    summary = {
        "confidence": 0.99,
        "models": {
            "lenet-base": reference(5, (0.9, 0.002), (0.28, 0.005), (0.030, 0.005), (0.010, 0.004), (8.0, 1.0), 10),
            "lenet-dropout": reference(5, (0.87, 0.004), (0.36, 0.007), (-0.040, 0.005), (0.001, 0.001), (14.2, 0.8)),
            "lenet-batchnorm": reference(5, (0.90, 0.002), (0.37, 0.009), (0.060, 0.005), (0.020, 0.005), (6.0, 1.0)),
            "lenet-tuned": reference(5, (0.93, 0.002), (0.19, 0.002), (0.032, 0.005), (0.001, 0.001), (28.0, 1.0), 30),
        },
    }
    text = overfitting_section(lenet_outputs(configs), summary)
    assert "| `lenet-base` | 5 | +3.0 ± 0.5 | 0.0100 ± 0.0040 | 8.0 ± 1.0 of 10 |" in text
    assert "| `lenet-dropout` against `lenet-base` | 5 and 5 | -7.0 |" in text
    said = "**lenet-dropout** reduces it; **lenet-batchnorm** widens it; **lenet-tuned** ties with it"
    assert f"Against lenet-base's gap between training and validation accuracy: {said}" in text
    assert "The committed run's curves (one seed):" in text
    assert "on this run" not in text  # the one run's verdict gives way to the seeds'


def test_without_the_signs_in_the_records_the_report_says_so_and_reads_the_one_run():
    configs = configs_of(PARAMS)
    summary = {
        "confidence": 0.99,
        "models": {name: reference(10, (0.9, 0.002), (0.3, 0.005)) for name in configs},  # as committed: no signs
    }
    text = overfitting_section(lenet_outputs(configs), summary)
    assert f"The reference records of {', '.join(configs)} were made before the records kept the overfitting" in text
    assert "re-run the reference study with the current code (`make reference`" in text
    assert "Read from the committed run's curves:" in text
    assert "the classic signs of overfitting" in text
    # a model with no reference runs at all is no reason for the note
    assert "were made before" not in overfitting_section(lenet_outputs(configs), {"confidence": 0.99, "models": {}})


def test_per_class_scores_show_four_decimals_down_a_column_and_counts_agree_with_their_nouns():
    config = {**configs_of(PARAMS)["lenet-base"], "schedule": {"kind": "cosine", "warmup_epochs": 1}}
    outputs = {
        "training": {"config": config, "weights_from_epoch": 8, "train_samples": 48_000},
        "metrics": {"test": {"loss": 0.28, "accuracy": 0.9}},
        "validation": {"best_val_accuracy": 0.91},
        "evaluation": {"test_samples": 10_000, "predictions_shown": 25},
        "per_class": [
            {"class": "Coat", "precision": "0.821", "recall": "0.9868", "f1": "0.9"},
            {"class": "Bag", "precision": "1.0", "recall": "0.99", "f1": "0.9949"},
        ],
    }
    text = report.model_results("lenet-base", outputs)
    assert "| Coat | 0.8210 | 0.9868 | 0.9000 |" in text
    assert "| Bag | 1.0000 | 0.9900 | 0.9949 |" in text
    assert "1 warm-up epoch, then cosine decay to 0" in text
    config["schedule"] = {"kind": "cosine", "warmup_epochs": 2}
    assert "2 warm-up epochs, then" in report.model_results("lenet-base", outputs)


def test_variants_whose_figures_read_the_same_share_the_smallest_and_single_out_none():
    flat = history([0.80, 0.90], [0.85, 0.86], [0.5, 0.3], [0.40, 0.36])  # gap +4.0 points, no rise
    flatter = history([0.80, 0.88], [0.85, 0.86], [0.5, 0.3], [0.40, 0.35])  # gap +2.0 points, no rise
    signs = {"lenet-dropout": overfitting_signs(flatter), "lenet-batchnorm": overfitting_signs(flat)}
    text = verdict(signs, CONFIGS)
    assert "(lenet-dropout the smallest accuracy gap, lenet-dropout and lenet-batchnorm the smallest rise" in text
    assert "Both signs agree" not in text
