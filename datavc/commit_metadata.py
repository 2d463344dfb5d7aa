"""Commit metadata: the user's ``key=value`` pairs recorded with a commit (``-M``, ``--metadata-file``).

No database access here: the CLI imports this module at start (``commits`` stores them).

Metadata is small, typed as text, and set once when the commit is made (a pipeline
records its run id, a person a ticket number). It is bounded so that no commit carries
an unbounded blob into every ``log``: at most :data:`MAX_KEYS` keys, keys of
:data:`KEY_RE`, values of at most :data:`MAX_VALUE` characters without control characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from datavc.errors import InvalidArgument

KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
MAX_KEYS = 64
MAX_VALUE = 4096
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

Metadata = Mapping[str, str]


def check_metadata(meta: Metadata | None) -> dict[str, str]:
    """``meta`` as a plain dict, validated.

    Raises:
        InvalidArgument: too many keys, a bad key, a value that is not text, too long, or has
            control characters (newlines and tabs are allowed).
    """
    if not meta:
        return {}
    if not isinstance(meta, Mapping):
        raise InvalidArgument("metadata must be a mapping of keys to text values")
    if len(meta) > MAX_KEYS:
        raise InvalidArgument(f"too much metadata: {len(meta)} keys (at most {MAX_KEYS})")
    out: dict[str, str] = {}
    for key, value in meta.items():
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise InvalidArgument(
                f"invalid metadata key {str(key)[:80]!r}: use 1-63 letters, digits, '_', '.' or '-' "
                "(not starting with '.' or '-')"
            )
        if not isinstance(value, str):
            raise InvalidArgument(f"metadata {key!r}: the value must be text, not {type(value).__name__}")
        if len(value) > MAX_VALUE:
            raise InvalidArgument(
                f"metadata {key!r}: the value is {len(value)} characters (at most {MAX_VALUE})"
            )
        if _CONTROL.search(value):
            raise InvalidArgument(f"metadata {key!r}: the value has control characters")
        out[key] = value
    return out


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` as a dict (a later key wins), validated.

    Raises:
        InvalidArgument: a pair without ``=``, or what :func:`check_metadata` refuses.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise InvalidArgument(f"metadata {pair[:80]!r}: use key=value")
        out[key] = value
    return check_metadata(out)


def matches(meta: Metadata, where: Mapping[str, str]) -> bool:
    """True if ``meta`` has every ``key=value`` of ``where``."""
    return all(meta.get(k) == v for k, v in where.items())
