"""Parsing command arguments: addresses, refs given to options, durations, local paths."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from datavc.errors import InvalidArgument
from datavc.names import Address, parse_address, parse_ref

DEFAULT_BRANCH = "main"


def address(text: str, *, default_ref: str | None = DEFAULT_BRANCH, path: bool | None = None) -> Address:
    """Parse ``REPO[@REF][:PATH]``.

    Args:
        default_ref: the ref when none is written (None: a ref is required).
        path: True: a path is required; False: a path is refused; None: optional.

    Raises:
        InvalidArgument: a malformed address, a missing ref or path, or an unwanted path.
    """
    addr = parse_address(text, default_ref=default_ref)
    if addr.ref is None:
        raise InvalidArgument(f"{text!r} needs a ref: use REPO@REF")
    if path is True and addr.path is None:
        raise InvalidArgument(f"{text!r} needs a path: use REPO@REF:PATH")
    if path is False and addr.path is not None:
        raise InvalidArgument(f"{text!r} takes no path: use REPO@REF")
    return addr


def ref(addr: Address) -> str:
    assert addr.ref is not None  # address() guarantees it
    return addr.ref


def name_address(text: str, kind: str) -> tuple[str, str]:
    """``REPO@NAME`` (a branch, tag or commit id) split in two; both parts are required."""
    addr = address(text, default_ref=None, path=False)
    if parse_ref(ref(addr)).back or "@{" in ref(addr):
        raise InvalidArgument(f"{text!r}: expected REPO@{kind.upper()}, not a ref expression")
    return addr.repo, ref(addr)


def ref_option(value: str, repo: str, option: str, *, verb: str) -> str:
    """A ref given to an option: a bare ref of ``repo`` (``v1``, ``main~2``, ``main@{...}``) or ``REPO@REF``.

    Raises:
        InvalidArgument: a malformed ref, or ``REPO@REF`` naming another repo.
    """
    _head, sep, rest = value.partition("@")
    if not sep or rest.startswith("{"):
        parse_ref(value)
        return value
    addr = address(value, default_ref=None, path=False)
    if addr.repo != repo:
        raise InvalidArgument(f"{option} {value}: cannot {verb} across repos ({addr.repo} is not {repo})")
    return ref(addr)


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str, option: str = "--grace") -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1w``, or combined (``1h30m``).

    Raises:
        InvalidArgument: anything else.
    """
    s = text.strip().lower()
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise InvalidArgument(
            f"invalid {option} {text!r}: use a number with s, m, h, d or w (e.g. 30m, 2h, 1d)"
        )
    if total > _MAX_DURATION_S:
        raise InvalidArgument(f"invalid {option} {text!r}: longer than 100 years")
    return timedelta(seconds=total)


_MAX_DURATION_S = 100 * 365 * 86400


@contextmanager
def local_path_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a missing or unreadable local path the user named into a one-line InvalidArgument."""
    try:
        yield
    except FileNotFoundError:
        raise InvalidArgument(f"{os.fspath(path)}: no such file or directory") from None
    except NotADirectoryError:
        raise InvalidArgument(f"{os.fspath(path)}: not a directory") from None
    except PermissionError:
        raise InvalidArgument(f"{os.fspath(path)}: permission denied") from None


def check_readable(path: str) -> bool:
    """Open ``path`` (a file or a directory) to report a missing or unreadable one early.

    Returns:
        True for a directory.
    """
    with local_path_errors(path):
        if os.path.isdir(path):
            os.scandir(path).close()
            return True
        with open(path, "rb"):
            return False
