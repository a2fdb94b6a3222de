"""dvc.yaml against the code: each stage depends on exactly the code its command runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from code_deps import ROOT, code_deps

from ci import model_registry
from stages import models
from stages.common import model_outputs

PIPELINES = ("dvc.yaml", "reference/dvc.yaml")  # the pipeline, and the reference distribution's own DVC project


def stage_definitions():
    for pipeline in PIPELINES:
        for name, stage in yaml.safe_load((ROOT / pipeline).read_text())["stages"].items():
            yield f"{pipeline}:{name}", stage.get("do", stage)


@pytest.mark.parametrize(("name", "stage"), list(stage_definitions()), ids=[n for n, _ in stage_definitions()])
def test_code_deps_are_exactly_what_the_command_imports(name, stage):
    module = re.match(r"python -m (stages\.\w+)", stage["cmd"]).group(1)
    declared = {dep for dep in stage["deps"] if dep.endswith(".py")}
    imported = code_deps(module)
    assert declared == imported, (
        f"{name}: missing {sorted(imported - declared)} (stale outputs), "
        f"extra {sorted(declared - imported)} (pointless re-runs)"
    )


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_no_line_names_a_lenet_variant(pipeline):
    variants = yaml.safe_load((ROOT / "params.yaml").read_text())["lenet"]
    # ...except in the models' registry, which DVC cannot template (ci/model_registry.py writes it)
    text = model_registry.BLOCK.sub("", (ROOT / pipeline).read_text())
    for variant in variants:
        assert not re.search(rf"\b{variant}\b", text.replace("stages/", "")), variant


def test_the_deps_reader_follows_imports_inside_functions(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/__init__.py").write_text("")
    (tmp_path / "pkg/a.py").write_text("from pkg import b\n")
    (tmp_path / "pkg/b.py").write_text("def f():\n    from pkg.c import x\n")
    (tmp_path / "pkg/c.py").write_text("x = 1\nimport numpy\n")
    (tmp_path / "pkg/d.py").write_text("x = 2\n")
    assert code_deps("pkg.a", tmp_path) == {"pkg/a.py", "pkg/b.py", "pkg/c.py"}


def test_dvc_lock_holds_exactly_the_current_stages():
    """DVC never drops the entry of a renamed or removed stage: a stale one would mislead `dvc status` readers."""
    dvc = Path(sys.executable).with_name("dvc")
    listed = subprocess.run(
        [str(dvc), "stage", "list", "--name-only"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    locked = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    assert sorted(locked) == sorted(listed)


def test_the_reference_lock_holds_only_current_stages():
    """The reference study may be part-way (its runs land one by one), but never holds a stage that is gone."""
    dvc = Path(sys.executable).with_name("dvc")
    listed = subprocess.run(
        [str(dvc), "stage", "list", "--name-only"],
        cwd=ROOT / "reference",
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    lock = ROOT / "reference" / "dvc.lock"
    locked = yaml.safe_load(lock.read_text())["stages"] if lock.exists() else {}
    assert set(locked) <= set(listed)


def test_every_model_params_yaml_defines_is_a_registered_artifact_and_nothing_else():
    from dvc.repo import Repo

    raw_params = yaml.safe_load((ROOT / "params.yaml").read_text())
    with Repo(str(ROOT)) as repo:  # as DVC reads them, which `dvc artifacts get` relies on
        registered = repo.artifacts.read()["dvc.yaml"]
    assert list(registered) == models.names(raw_params)
    for model, artifact in registered.items():
        assert artifact.path == model_outputs(model)["model"].as_posix()
        assert artifact.type == "model"
        assert f"({models.params_key(model)} in params.yaml)" in artifact.desc
        assert "fashion-mnist" in artifact.labels
    assert "flip-tta" in registered["lenet-tuned"].labels  # its record says test_time_flip
    assert "flip-tta" not in registered["lenet-base"].labels


def test_a_new_variant_is_registered_by_the_generator_and_its_absence_noticed(tmp_path):
    for path in ("dvc.yaml", "params.yaml", model_registry.HAND_IN):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((ROOT / path).read_text())
    raw_params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    raw_params["lenet"]["wide"] = raw_params["lenet"]["base"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params, sort_keys=False))
    assert model_registry.stale(tmp_path)
    assert model_registry.stale(tmp_path, write=True)
    assert not model_registry.stale(tmp_path)
    pipeline = yaml.safe_load((tmp_path / "dvc.yaml").read_text())
    assert pipeline["artifacts"]["lenet-wide"]["path"] == "models/lenet-wide.keras"
    assert pipeline["stages"] == yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]  # only the block moved
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(ValueError, match=r"dvc\.yaml: expected one"):
        model_registry.stale(tmp_path)
