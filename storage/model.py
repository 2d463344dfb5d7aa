"""Frozen value types shared by the store's API: data refs, tree entries, diff entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from storage.errors import InvalidInput
from storage.hashing import ObjectId

Kind = Literal["file", "dir"]
FILE: Kind = "file"
DIR: Kind = "dir"


class DataRef(NamedTuple):
    """``length`` bytes at ``offset`` inside the object ``oid`` (an immutable tuple)."""

    oid: ObjectId
    offset: int
    length: int


class Entry(NamedTuple):
    """One name in a directory (an immutable tuple: cheap to decode by the million).

    For a file, ``hash`` is the hash of its whole content and ``refs`` lists where its
    bytes are, in order. For a directory, ``hash`` is the id of its tree's root object,
    ``size`` the bytes of every file below it and ``count`` the number of those files.
    """

    name: str
    kind: Kind
    size: int
    hash: str
    refs: tuple[DataRef, ...] = ()
    count: int = 1  # type: ignore[assignment]  # shadows tuple.count on purpose

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR

    def renamed(self, name: str) -> Entry:
        """The same content under another name."""
        return Entry(name, self.kind, self.size, self.hash, self.refs, self.count)


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """A file added (``old`` is None), deleted (``new`` is None) or modified."""

    path: str
    old: Entry | None
    new: Entry | None

    @property
    def status(self) -> Literal["added", "deleted", "modified"]:
        if self.old is None:
            return "added"
        if self.new is None:
            return "deleted"
        return "modified"


def check_name(name: str) -> str:
    """Validate one path component; returns it unchanged.

    Raises:
        InvalidInput: empty, ``.``/``..``, contains ``/`` or NUL, or not valid UTF-8.
    """
    if not name or name in (".", ".."):
        raise InvalidInput(f"invalid name {name!r}: empty, '.' and '..' are not allowed")
    if "/" in name or "\x00" in name:
        raise InvalidInput(f"invalid name {name!r}: '/' and NUL are not allowed in a name")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"invalid name {name.encode('utf-8', 'surrogateescape')!r}: not valid UTF-8"
        ) from None
    return name


def normalize_path(path: str) -> str:
    """``/a/b/`` → ``a/b``; the root is ``""``.

    Raises:
        InvalidInput: ``..``, ``.``, empty segments (``a//b``), NUL or non-UTF-8 names.
    """
    if not isinstance(path, str):
        raise InvalidInput(f"invalid path {path!r}: not a string")
    stripped = path.strip("/")
    if not stripped:
        return ""
    for part in stripped.split("/"):
        if not part:
            raise InvalidInput(f"invalid path {path!r}: empty segment")
        if part in (".", ".."):
            raise InvalidInput(f"invalid path {path!r}: '.' and '..' are not allowed")
        check_name(part)
    return stripped


def split_path(path: str) -> list[str]:
    """The components of a normalized path (none for the root)."""
    return path.split("/") if path else []
