"""Reading spec text: YAML or JSON, bounded before anything walks it.

Hostile specs are bounded first: at most ``MAX_SPEC_BYTES`` of text, ``MAX_DEPTH`` levels
of nesting and ``MAX_VALUES`` values once YAML aliases are expanded (a "billion laughs"
document is refused, not expanded). Duplicate keys are refused rather than silently
keeping the last one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import yaml

from datavc.errors import InvalidArgument
from datavc.pipelines.spec.problems import InvalidSpec

__all__ = ["MAX_DEPTH", "MAX_SPEC_BYTES", "MAX_VALUES", "check_size", "load_text"]

MAX_SPEC_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise InvalidSpec([f"duplicate key {key!r} (line {key_node.start_mark.line + 1})"])
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidSpec([f"duplicate key {key!r}"])
        out[key] = value
    return out


def load_text(text: str, fmt: Literal["yaml", "json"] | None) -> Any:
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    if fmt == "json":
        try:
            return json.loads(text, object_pairs_hook=_json_pairs)
        except json.JSONDecodeError as err:
            raise InvalidSpec([f"JSON: {err.msg} at line {err.lineno} column {err.colno}"]) from None
        except RecursionError:
            raise InvalidSpec([f"nested more than {MAX_DEPTH} levels deep"]) from None
    if fmt != "yaml":
        raise InvalidArgument(f"unknown spec format {fmt!r}: use 'yaml' or 'json'")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        where = (
            f" at line {err.problem_mark.line + 1} column {err.problem_mark.column + 1}"
            if err.problem_mark
            else ""
        )
        raise InvalidSpec([f"YAML: {err.problem or err}{where}"]) from None
    except yaml.YAMLError as err:
        raise InvalidSpec([f"YAML: {err}"]) from None
    except RecursionError:
        raise InvalidSpec([f"nested more than {MAX_DEPTH} levels deep"]) from None
    if data is None:
        raise InvalidSpec(["the spec is empty"])
    return data


def check_size(data: Any) -> None:
    """Refuse data nested deeper than ``MAX_DEPTH`` or holding more than ``MAX_VALUES`` values.

    Iterative, and it stops at the first excess: YAML aliases make a small document stand
    for an exponentially large one, which must never be walked in full.
    """
    seen = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise InvalidSpec([f"more than {MAX_VALUES} values (after expanding YAML aliases)"])
        if isinstance(value, Mapping | list | tuple):
            if depth > MAX_DEPTH:
                raise InvalidSpec([f"nested more than {MAX_DEPTH} levels deep"])
            items = value.values() if isinstance(value, Mapping) else value
            stack.extend((v, depth + 1) for v in items)
