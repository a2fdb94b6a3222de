from stages.report import overfitting_signs, verdict


def history(train_acc, val_acc, train_loss, val_loss):
    return [{"epoch": i + 1, "accuracy": a, "val_accuracy": va, "loss": lo, "val_loss": vl}
            for i, (a, va, lo, vl) in enumerate(zip(train_acc, val_acc, train_loss, val_loss))]


OVERFITTING = history([0.85, 0.90, 0.95], [0.86, 0.88, 0.87], [0.40, 0.25, 0.12], [0.38, 0.33, 0.41])
STEADY = history([0.80, 0.83, 0.85], [0.84, 0.86, 0.87], [0.55, 0.48, 0.44], [0.43, 0.38, 0.35])


def test_signs_are_read_from_the_curves():
    signs = overfitting_signs(OVERFITTING)
    assert signs["min_val_loss_epoch"] == 2
    assert round(signs["val_loss_rise"], 4) == 0.08
    assert round(signs["accuracy_gap"], 4) == 0.08
    assert signs["epochs"] == 3


def test_verdict_names_the_variant_whose_curves_overfit_less():
    signs = {"lenet-base": overfitting_signs(OVERFITTING), "lenet-dropout": overfitting_signs(STEADY),
             "lenet-batchnorm": overfitting_signs(OVERFITTING)}
    text = verdict(signs)
    assert "Both signs agree: **lenet-dropout** overfits less" in text
    assert "the classic signs of overfitting" in text
    signs["lenet-dropout"], signs["lenet-batchnorm"] = signs["lenet-batchnorm"], signs["lenet-dropout"]
    assert "**lenet-batchnorm** overfits less" in verdict(signs)


def test_verdict_says_so_when_the_signs_disagree():
    mixed = history([0.85, 0.90, 0.99], [0.86, 0.88, 0.89], [0.40, 0.25, 0.12], [0.38, 0.30, 0.29])
    signs = {"lenet-base": overfitting_signs(STEADY), "lenet-dropout": overfitting_signs(mixed),
             "lenet-batchnorm": overfitting_signs(OVERFITTING)}
    text = verdict(signs)
    assert "The signs disagree" in text
    assert "little sign of overfitting" in text
