"""How a bad spec is reported: every problem at once, each naming its field.

pydantic's errors are rewritten into short ``field: problem`` lines
(``input.cross[1].pfs.glob: must start with '/'``), so a user fixes a spec in one go.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from datavc.errors import InvalidArgument

__all__ = ["InvalidSpec", "TreeProblems", "problems_of", "type_name"]


class InvalidSpec(InvalidArgument):
    """A pipeline spec that does not parse or validate; ``problems`` lists each as ``field: problem``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid pipeline spec: " + "; ".join(problems))
        self.problems = tuple(problems)


class TreeProblems(ValueError):
    """Problems found by walking the whole input tree, each already naming its field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def type_name(value: Any) -> str:
    names = {
        dict: "a mapping",
        list: "a list",
        tuple: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_TYPE_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def problems_of(err: ValidationError) -> list[str]:
    problems: list[str] = []
    for e in err.errors():
        problems.extend(_describe(e))
    return problems


def _describe(e: ErrorDetails) -> list[str]:
    kind, ctx = e["type"], e.get("ctx") or {}
    where = _field_path(e["loc"])
    error = ctx.get("error")
    if isinstance(error, TreeProblems):
        return list(error.problems)
    if kind == "value_error" and error is not None:
        msg = str(error)
    elif kind == "missing":
        msg = "required"
    elif kind == "extra_forbidden":
        msg = "unknown field"
    elif kind in _TYPE_MESSAGES:
        msg = f"{_TYPE_MESSAGES[kind]}, got {type_name(e['input'])}"
    elif kind == "greater_than_equal":
        msg = f"must be >= {_number(ctx['ge'])}"
    elif kind == "greater_than":
        msg = f"must be > {_number(ctx['gt'])}"
    elif kind == "too_short" and ctx["min_length"] == 1:
        msg = "must not be empty"
    elif kind == "too_short":
        msg = f"must have at least {ctx['min_length']} items"
    else:
        msg = e["msg"][:1].lower() + e["msg"][1:]
    return [f"{where}: {msg}" if where else msg]
