"""The code's shape: scripts are leaves, test modules share helpers through conftest.py or helpers.py only."""

import ast

from code_deps import ROOT, imported_modules

# The project's own code: a module here that has a main() is a script, run by a stage, make or a person.
PACKAGES = ("stages", "ci", "benchmarks", "docs")


def module_name(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def is_script(path):
    """A top-level main() or an `if __name__ == "__main__":` block."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            return True
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return True
    return False


def test_no_script_is_imported_by_another_module():
    """A script imported elsewhere is a library too: its changes would stale every stage that imports it."""
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    scripts = {module_name(path) for path in files if is_script(path)}
    assert {"stages.train_lenet", "stages.evaluate", "ci.verify", "benchmarks.run"} <= scripts
    found = [
        f"{module_name(path)} imports {name}"
        for path in files
        for name in sorted(imported_modules(path) & scripts)
        if name != module_name(path)
    ]
    assert found == []


def test_no_test_module_imports_another():
    tests = {path.stem for path in (ROOT / "tests").glob("test_*.py")}
    found = [
        f"{path.name} imports {name}"
        for path in sorted((ROOT / "tests").glob("*.py"))
        for name in sorted({name.split(".")[0] for name in imported_modules(path)} & tests)
    ]
    assert found == []


def test_every_subprocess_a_test_runs_has_a_timeout():
    """A hung child would hang the suite: subprocess.run and its kin get a timeout (Popen waits take their own)."""
    found = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) in {"subprocess.run", "subprocess.check_output", "subprocess.check_call"}
                and not any(keyword.arg in ("timeout", None) for keyword in node.keywords)  # None: **options
            ):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
