"""The repository modules a `python -m stages.X` command imports, transitively, read with `ast`."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_path(name, root=ROOT):
    path = root / Path(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def imported_modules(path):
    """Every module an import statement in `path` names, at any depth (imports inside functions count)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def code_deps(module, root=ROOT):
    """The repository files `python -m <module>` runs: the module and what it imports, transitively.

    Package __init__ files that are empty are left out: they hold no code to depend on.
    """
    parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
    seen, todo = set(), [module, *parents]  # `python -m pkg.mod` runs the package's __init__ first
    while todo:
        path = module_path(todo.pop(), root)
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(imported_modules(path))
    return {p.relative_to(root).as_posix() for p in seen if p.stat().st_size > 0}
