"""Names and addresses: ``repo@ref:path``, ref expressions (``main~2``, ``v1^``, ``main@{2026-01-01}``).

Names of repos, branches, tags and pipelines are 1-63 of ``[A-Za-z0-9_-]``. Paths are
normalised (``/a/b/`` → ``a/b``); ``..``, ``.``, empty segments (``//`` anywhere), NUL and
control characters are refused, and so are names over 255 bytes, paths over 4,096 bytes
and paths deeper than 256 levels (the limits trees are held to when read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from datavc.errors import InvalidArgument
from storage.errors import InvalidInput
from storage.model import normalize_path

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,63}")
COMMIT_ID_RE = re.compile(r"[0-9a-f]{32}")
_PREFIX_RE = re.compile(r"[0-9a-f]{6,32}")
_STEP_RE = re.compile(r"\^+|~\d*")


def check_name(name: str, kind: str = "name") -> str:
    """``name`` if it is a valid repo/branch/tag/pipeline name.

    Raises:
        InvalidArgument: anything but 1-63 letters, digits, ``_`` or ``-``.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidArgument(f"invalid {kind} name {name!r}: use 1-63 letters, digits, '_' or '-'")
    return name


def check_path(path: str) -> str:
    """A normalised repo path (``""`` is the root).

    Raises:
        InvalidArgument: ``..``, ``.``, empty segments (``//`` anywhere, also leading or
            trailing), NUL, control characters, non-UTF-8 names, or a name or path over the limits.
    """
    if isinstance(path, str) and "//" in path:
        raise InvalidArgument(f"invalid path {path[:80]!r}: empty segment ('//')")
    try:
        return normalize_path(path)
    except InvalidInput as err:
        raise InvalidArgument(str(err)) from None


def is_commit_prefix(text: str) -> bool:
    return bool(_PREFIX_RE.fullmatch(text))


@dataclass(frozen=True, slots=True)
class RefExpr:
    """A parsed ref: a base name (branch, tag, id or id prefix), an optional time, first-parent steps."""

    base: str
    at: datetime | None = None
    back: int = 0


def parse_ref(text: str) -> RefExpr:
    """Parse ``main``, ``v1``, ``3fa9c1``, ``main^^``, ``main~3``, ``main@{2026-11-30T10:00}~1``.

    Raises:
        InvalidArgument: a malformed ref.
    """
    if not text:
        raise InvalidArgument("empty ref")
    at: datetime | None = None
    rest = text
    m = re.fullmatch(r"([^@~^]+)@\{([^}]*)\}(.*)", text)
    if m:
        base, when, rest = m.group(1), m.group(2), m.group(3)
        at = parse_time(when)
    else:
        m2 = re.match(r"[^~^]*", text)
        assert m2 is not None
        base, rest = m2.group(0), text[m2.end() :]
    if not base:
        raise InvalidArgument(f"invalid ref {text!r}: it needs a branch, tag or commit id")
    if not NAME_RE.fullmatch(base):
        raise InvalidArgument(f"invalid ref {text!r}: {base!r} is not a valid branch, tag or commit id")
    back = 0
    pos = 0
    while pos < len(rest):
        s = _STEP_RE.match(rest, pos)
        if not s:
            raise InvalidArgument(f"invalid ref {text!r}: cannot parse {rest[pos:]!r} (use ^ or ~N)")
        step = s.group(0)
        back += len(step) if step.startswith("^") else int(step[1:] or 1)
        pos = s.end()
    return RefExpr(base, at, back)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; naive times are taken as UTC.

    Raises:
        InvalidArgument: not an ISO time.
    """
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"invalid time {text!r}: use ISO 8601, e.g. 2026-11-30T10:00:00Z") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Address:
    """``repo@ref:path`` split up; ``ref`` and ``path`` are None when not given."""

    repo: str
    ref: str | None = None
    path: str | None = None
    #: the path was written with a trailing ``/`` (or as ``/``): it names a directory
    dir_hint: bool = False

    def __str__(self) -> str:
        out = self.repo
        if self.ref is not None:
            out += "@" + self.ref
        if self.path is not None:
            out += ":" + (self.path or "/")
        return out


def parse_address(text: str, *, default_ref: str | None = None) -> Address:
    """Parse ``repo``, ``repo@ref``, ``repo@ref:path`` or ``repo:path``.

    Raises:
        InvalidArgument: a bad repo name, ref or path.
    """
    if not text:
        raise InvalidArgument("empty address: use REPO@REF[:PATH]")
    at, colon = text.find("@"), text.find(":")
    path: str | None = None
    ref: str | None = None
    if at < 0 or 0 <= colon < at:
        # REPO or REPO:PATH (an '@' after the colon belongs to the path: r:/a@2x.png)
        repo, sep, p = text.partition(":")
        if sep:
            path = p
    else:
        repo, rest = text[:at], text[at + 1 :]
        if "@{" in rest:
            close = rest.find("}")
            if close < 0:
                raise InvalidArgument(f"invalid address {text!r}: '@{{' without '}}'")
            colon_at = rest.find(":", close)
        else:
            colon_at = rest.find(":")
        if colon_at >= 0:
            ref, path = rest[:colon_at], rest[colon_at + 1 :]
        else:
            ref = rest
        if not ref:
            raise InvalidArgument(f"invalid address {text!r}: empty ref after '@'")
        parse_ref(ref)
    check_name(repo, "repo")
    return Address(
        repo,
        ref if ref is not None else default_ref,
        check_path(path) if path is not None else None,
        path is not None and (path.endswith("/") or not path),
    )
