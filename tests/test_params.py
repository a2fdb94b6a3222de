"""params.yaml against its schema: every section, typos with suggestions, bad values, one-line errors."""

import copy

import pytest
from code_deps import ROOT

from stages import params
from stages.common import StageError
from stages.schema import Params

PARAMS = params.load(ROOT / "params.yaml")


def error_of(key, edit):
    edited = copy.deepcopy(PARAMS)
    edit(edited)
    with pytest.raises(StageError) as raised:
        params.check(edited, key)
    return str(raised.value)


def test_the_committed_params_match_the_schema():
    Params.model_validate(PARAMS)
    assert set(params.check(PARAMS, "lenet")) >= {"base", "dropout", "batchnorm"}


@pytest.mark.parametrize(
    ("section", "typo", "meant"),
    [
        ("mlp", "epoch", "epochs"),
        ("lenet.base", "epoch", "epochs"),
        ("lenet.dropout", "batchsize", "batch_size"),
        ("lenet.base.augment", "flips", "flip"),
        ("lenet.base.schedule", "warmup_epoch", "warmup_epochs"),
        ("data", "val_fractions", "val_fraction"),
        ("scratch", "n_sample", "n_samples"),
        ("plots", "samples_grids", "samples_grid"),
        ("evaluate", "batch_sise", "batch_size"),
        ("train", "steps_per_executon", "steps_per_execution"),
    ],
)
def test_a_typo_is_an_unknown_key_with_a_suggestion(section, typo, meant):
    def add_typo(p):
        node = p
        for part in section.split("."):
            node = node[part]
        node[typo] = 1

    stage_key = ".".join(section.split(".")[:2])
    assert error_of(stage_key, add_typo) == f"params.yaml: {section}.{typo}: unknown key (did you mean {meant}?)"


def test_a_typo_at_the_top_level_stops_every_stage():
    assert error_of("seed", lambda p: p.update(lenett={})) == "params.yaml: lenett: unknown key (did you mean lenet?)"


def test_a_typo_stops_only_the_stages_that_read_it():
    edited = copy.deepcopy(PARAMS)
    edited["lenet"]["base"]["epoch"] = 5
    assert params.check(edited, "mlp").epochs == PARAMS["mlp"]["epochs"]
    assert params.check(edited, "lenet.dropout").epochs == PARAMS["lenet"]["dropout"]["epochs"]
    with pytest.raises(StageError):
        params.check(edited, "lenet.base")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lenet.dropout.dropout", 1.5, "expected a number in [0, 1), got 1.5"),
        ("lenet.dropout.epochs", 0, "expected an integer >= 1, got 0"),
        ("lenet.dropout.epochs", True, "expected an integer >= 1, got True"),
        ("lenet.dropout.epochs", 2.0, "expected an integer >= 1, got 2.0"),
        ("lenet.dropout.optimizer", "adamax", "expected one of adam, adamw, sgd, rmsprop, got 'adamax'"),
        ("lenet.base.filters", [6, 0, 120], None),
        ("lenet.base.head", "dense", "expected one of flatten, global_average, got 'dense'"),
        ("lenet.base.augment.translate", 0.9, "expected a number in [0, 0.5], got 0.9"),
        ("lenet.tuned.ema_momentum", 1.0, "expected a number in [0, 1), got 1.0"),
        ("mlp.ema_momentum", -0.5, "expected a number in [0, 1), got -0.5"),
        ("lenet.tuned.test_time_flip", "yes", "expected true or false, got 'yes'"),
        ("lenet.base.schedule.kind", "cos", "expected one of plateau, cosine, constant, got 'cos'"),
        ("mlp.hidden_units", [], "expected a non-empty list of integers >= 1, got []"),
        ("data.val_fraction", 1.0, "expected a number in (0, 1), got 1.0"),
        ("data.max_train_samples", "all", "expected an integer >= 10 or null, got 'all'"),
        ("seed", "zero", "expected an integer >= 0, got 'zero'"),
        ("scratch.n_hidden", 0, "expected an integer >= 1, got 0"),
        ("plots.samples_grid", True, "expected an integer >= 1, got True"),
        ("evaluate.batch_size", -1, "expected an integer >= 1, got -1"),
        ("train.inter_op_threads", -1, "expected an integer >= 0, got -1"),
    ],
)
def test_a_bad_value_names_the_key_and_what_was_expected(key, value, message):
    def set_value(p):
        *parents, leaf = key.split(".")
        node = p
        for part in parents:
            node = node[part]
        node[leaf] = value

    stage_key = ".".join(key.split(".")[:2]) if key.startswith("lenet") else key.split(".")[0]
    error = error_of(stage_key, set_value)
    if message is None:  # a list item: the index is named
        assert error == "params.yaml: lenet.base.filters[1]: expected an integer >= 1, got 0"
    else:
        assert error == f"params.yaml: {key}: {message}"


def test_per_conv_lists_must_agree_in_length():
    error = error_of("lenet.base", lambda p: p["lenet"]["base"].update(filters=[6, 16]))
    assert error == "params.yaml: lenet.base: kernel_size has 3 entries, filters 2: one per conv layer"


def test_a_variant_name_must_be_usable_in_stage_names_and_paths():
    error = error_of("lenet.Big-One", lambda p: p["lenet"].update({"Big-One": p["lenet"]["base"]}))
    assert error == "params.yaml: lenet.Big-One: expected a name of lower-case letters, digits and _ as a key"


def test_an_undefined_variant_lists_the_defined_ones():
    assert error_of("lenet.resnet", lambda p: None).startswith(
        "params.yaml: lenet.resnet: unknown key (expected one of: base, dropout, batchnorm"
    )


def test_numbers_are_read_as_dvc_writes_them(tmp_path):
    """`dvc exp run -S lenet.base.learning_rate=1e-3` writes YAML 1.2, where 1e-3 is a number."""
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text().replace("learning_rate: 0.001", "learning_rate: 1e-3", 1))
    assert params.read("mlp", path=path).learning_rate == 0.001


def test_dvc_set_writes_inherited_keys_out_so_variants_stay_explicit(tmp_path):
    """Why params.yaml repeats base's keys in each variant instead of YAML merge keys (`<<: *base`).

    `dvc exp run -S` (DVC's apply_overrides) writes every inherited key into the merging
    mapping: a later change to base would no longer reach the variant, which is the whole
    point of inheriting. If DVC learns to keep merge keys, this fails: time to use them.
    """
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    path.write_text("lenet:\n  base: &base {epochs: 10, learning_rate: 0.001}\n  dropout: {<<: *base, epochs: 15}\n")
    apply_overrides(str(path), ["lenet.base.learning_rate=0.002"])
    lenet = params.load(path)["lenet"]
    assert lenet["base"]["learning_rate"] == 0.002
    assert lenet["dropout"]["learning_rate"] == 0.001  # not inherited any more: written out by DVC
