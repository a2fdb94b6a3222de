"""Reading params.yaml and checking the keys a stage reads against stages/schema.py.

Errors are one line naming the key, what was expected and what was given:
`params.yaml: lenet.dropout.dropout: expected a number in [0, 1), got 1.5`,
`params.yaml: lenet.base.epoch: unknown key (did you mean epochs?)`.
"""

import difflib
import types
import typing
from pathlib import Path

import annotated_types as at
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from ruamel.yaml import YAML, YAMLError

from stages.common import StageError
from stages.schema import Params

PARAMS_FILE = Path("params.yaml")
UNIONS = (typing.Union, types.UnionType)  # Optional[X] and X | None
_NOT_A_MODEL = ConfigDict(strict=True)


def load(path=PARAMS_FILE):
    """The raw params mapping. YAML 1.2, as DVC reads and writes it (`-S lr=1e-3` is a number)."""
    try:
        with open(path) as f:
            params = YAML(typ="safe", pure=True).load(f)
    except OSError as error:
        raise StageError(f"{path}: cannot read ({error.strerror})") from None
    except YAMLError as error:
        raise StageError(f"{path}: not valid YAML ({error})".replace("\n", " ")) from None
    if not isinstance(params, dict):
        raise StageError(f"{path}: expected a mapping of params at the top level")
    return params


def check(params, *keys):
    """The validated value of each dotted key (`seed`, `lenet.base`, `plots.samples_grid`).

    Along the way, every mapping on the key's path must hold only known keys.
    """
    values = [_check_one(params, key) for key in keys]
    return values[0] if len(values) == 1 else values


def read(*keys, path=PARAMS_FILE):
    return check(load(path), *keys)


def _check_one(params, key):
    node, tp, path = params, Params, []
    for part in key.split("."):
        if not isinstance(node, dict):
            raise _error(path, f"expected {describe(tp)}, got {node!r}")
        if _is_model(tp):
            for name in node:
                if name not in tp.model_fields:
                    raise _error([*path, name], _unknown(name, tp.model_fields))
            if part not in node:
                raise _error([*path, part], "missing")
            tp = _field_type(tp.model_fields[part])
        else:  # a mapping of names to sections, such as `lenet`
            if part not in node:
                raise _error([*path, part], _unknown(part, node))
            key_type, tp = typing.get_args(_unwrap(tp)[0])
            try:
                TypeAdapter(key_type, config=_NOT_A_MODEL).validate_python(part)
            except ValidationError:
                raise _error([*path, part], f"expected {describe(key_type)} as a key") from None
        node, path = node[part], [*path, part]
    adapter = TypeAdapter(tp) if _is_model(tp) else TypeAdapter(tp, config=_NOT_A_MODEL)
    try:
        return adapter.validate_python(node)
    except ValidationError as error:
        raise _from_pydantic(error.errors()[0], tp, path) from None


def _from_pydantic(err, tp, path):
    path, loc = list(path), list(err["loc"])
    if loc[-1:] == ["[key]"]:  # a bad key of a mapping such as `lenet`: describe the key's type
        loc.pop()
        tp = typing.get_args(_unwrap(tp)[0])[0] if len(loc) == 1 else None
    parent = None
    for part in loc:
        parent = tp
        tp, consumed = _step(tp, part) if tp is not None else (None, True)
        if consumed:
            path.append(part)
    if err["type"] == "missing":
        return _error(path, "missing")
    if err["type"] == "extra_forbidden":
        return _error(path, _unknown(path[-1], parent.model_fields if _is_model(parent) else ()))
    if err["type"] == "value_error":
        return _error(path, err["msg"].removeprefix("Value error, "))
    if err["type"].startswith("union_tag"):
        path, tp = [*path, "kind"], None
        expected = "one of " + ", ".join(err["ctx"]["expected_tags"].replace("'", "").split(", "))
        given = err["input"].get("kind") if isinstance(err["input"], dict) else err["input"]
        return _error(path, f"expected {expected}, got {given!r}")
    return _error(path, f"expected {describe(tp)}, got {err['input']!r}")


def _step(tp, part):
    """The type one loc element down, and whether that element names a key or index."""
    base, _ = _unwrap(tp)
    if _is_model(base):
        field = base.model_fields.get(part)  # None: the unknown key of an extra_forbidden error
        return (_field_type(field) if field else None), True
    origin = typing.get_origin(base)
    if origin is list:
        return typing.get_args(base)[0], True
    if origin is dict:
        return typing.get_args(base)[1], True
    if origin in UNIONS:  # a discriminated union: the loc names the chosen member's tag
        for member in typing.get_args(base):
            if _is_model(member) and member.model_fields["kind"].annotation.__args__ == (part,):
                return member, False
    return tp, True


def _error(path, message):
    where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")
    return StageError(f"{PARAMS_FILE}: {where}: {message}")


def _unknown(name, known):
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]}?)"
    return f"unknown key (expected one of: {', '.join(known) or 'none defined'})"


def _is_model(tp):
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_type(field):
    return typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def _unwrap(tp):
    """(the bare type, its constraints) of a possibly Annotated type."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *metadata = typing.get_args(tp)
        inner, more = _unwrap(base)
        constraints = [m for item in metadata for m in getattr(item, "metadata", [item])]
        return inner, more + constraints
    return tp, []


def describe(tp, plural=False):
    """Words for what a type accepts: 'an integer >= 1', 'a number in [0, 1)', 'one of max, none'."""
    base, constraints = _unwrap(tp)
    origin, args = typing.get_origin(base), typing.get_args(base)
    if origin in UNIONS and type(None) in args:
        return describe(next(a for a in args if a is not type(None)), plural) + " or null"
    if origin in UNIONS:
        return "a mapping with a kind: " + ", ".join(
            typing.get_args(m.model_fields["kind"].annotation)[0] for m in args
        )
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is list:
        size = (
            "a non-empty list" if any(isinstance(c, at.MinLen) and c.min_length > 0 for c in constraints) else "a list"
        )
        return f"{size} of {describe(args[0], plural=True)}"
    if base is bool:
        return "true or false"
    if base in (int, float):
        noun = {int: ("an integer", "integers"), float: ("a number", "numbers")}[base][plural]
        return noun + _bounds(constraints)
    if base is str:
        pattern = next((c.pattern for c in constraints if hasattr(c, "pattern")), None)
        return "a name of lower-case letters, digits and _" if pattern else "a string"
    if _is_model(base):
        return "a mapping of " + ", ".join(base.model_fields)
    return "a mapping" if origin is dict else getattr(base, "__name__", str(base))


def _bounds(constraints):
    low = next(((c.ge, "[", ">=") for c in constraints if isinstance(c, at.Ge)), None) or next(
        ((c.gt, "(", ">") for c in constraints if isinstance(c, at.Gt)), None
    )
    high = next(((c.le, "]", "<=") for c in constraints if isinstance(c, at.Le)), None) or next(
        ((c.lt, ")", "<") for c in constraints if isinstance(c, at.Lt)), None
    )
    if low and high:
        return f" in {low[1]}{low[0]:g}, {high[0]:g}{high[1]}"
    if low or high:
        value, _, op = low or high
        return f" {op} {value:g}"
    return ""
