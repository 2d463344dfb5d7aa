"""Frozen value types shared by the store's API: data refs, tree entries, diff entries."""

from __future__ import annotations

import re
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
    bytes are, in order; a large file instead has ``index``, the id of an index object
    listing them (:mod:`storage.index`; read them with ``ObjectStore.iter_refs``) and no
    inline ``refs``. For a directory, ``hash`` is the id of its tree's root object,
    ``size`` the bytes of every file below it and ``count`` the number of those files.
    """

    name: str
    kind: Kind
    size: int
    hash: str
    refs: tuple[DataRef, ...] = ()
    count: int = 1  # type: ignore[assignment]  # shadows tuple.count on purpose
    index: str = ""  # type: ignore[assignment]  # shadows tuple.index on purpose

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR

    def renamed(self, name: str) -> Entry:
        """The same content under another name."""
        return Entry(name, self.kind, self.size, self.hash, self.refs, self.count, self.index)


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


#: The longest name (one path component) a tree may hold, in UTF-8 bytes (as most filesystems allow).
MAX_NAME_BYTES = 255
#: The longest path, in UTF-8 bytes (Linux's ``PATH_MAX``).
MAX_PATH_BYTES = 4096
#: The deepest path, in components: deeper trees would exhaust the recursion of tree updates and
#: diffs (Python's stack), and no dataset needs them.
MAX_DEPTH = 256
#: Paths of at most this many characters are within both limits (a fast path for walks).
SHORT_PATH = min(MAX_PATH_BYTES // 4, 2 * MAX_DEPTH)

# C0 and C1 control characters (newline, ESC, DEL, ...) and the separator: a name holding one
# could rewrite a terminal, split a line-oriented listing or escape its directory.
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f/]")


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be one path component, or None when it can.

    Shared by the paths people type (:func:`check_name`) and the names decoded from tree
    objects (a crafted tree is refused with the same rules as a typed path).
    """
    if type(name) is not str:
        return "not a string"
    if not name or name == "." or name == "..":
        return "empty, '.' and '..' are not allowed"
    bad = _BAD_CHARS.search(name)
    if bad is not None:
        return "'/' is not allowed" if bad.group() == "/" else "NUL and control characters are not allowed"
    try:
        size = len(name) if name.isascii() else len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if size > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes ({size})"
    return None


def path_problem(path: str) -> str | None:
    """Why the normalized ``path`` (components already checked) is too long or too deep, or None."""
    if len(path) <= SHORT_PATH:
        return None  # fast path: too short to exceed either limit
    size = len(path.encode("utf-8", "surrogateescape"))
    if size > MAX_PATH_BYTES:
        return f"longer than {MAX_PATH_BYTES} bytes ({size})"
    depth = path.count("/") + 1
    if depth > MAX_DEPTH:
        return f"deeper than {MAX_DEPTH} levels ({depth})"
    return None


def _printable(name: str) -> str:
    """``repr`` of a name for an error message; non-UTF-8 names shown as their bytes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return repr(name.encode("utf-8", "surrogateescape"))
    return repr(name)


def check_name(name: str) -> str:
    """Validate one path component; returns it unchanged.

    Raises:
        InvalidInput: empty, ``.``/``..``, contains ``/``, NUL or a control character, is
            longer than :data:`MAX_NAME_BYTES`, or is not valid UTF-8.
    """
    problem = name_problem(name)
    if problem is not None:
        raise InvalidInput(f"invalid name {_shorten(name)}: {problem}")
    return name


def normalize_path(path: str) -> str:
    """``/a/b/`` → ``a/b``; the root is ``""``.

    Raises:
        InvalidInput: ``..``, ``.``, empty segments (``a//b``), NUL, control characters,
            non-UTF-8 names, names or paths over the limits (:data:`MAX_NAME_BYTES`,
            :data:`MAX_PATH_BYTES`, :data:`MAX_DEPTH`).
    """
    if not isinstance(path, str):
        raise InvalidInput(f"invalid path {path!r}: not a string")
    stripped = path.strip("/")
    if not stripped:
        return ""
    for part in stripped.split("/"):
        if not part:
            raise InvalidInput(f"invalid path {_shorten(path)}: empty segment")
        if part in (".", ".."):
            raise InvalidInput(f"invalid path {_shorten(path)}: '.' and '..' are not allowed")
        problem = name_problem(part)
        if problem is not None:
            raise InvalidInput(f"invalid path {_shorten(path)}: name {_shorten(part)}: {problem}")
    problem = path_problem(stripped)
    if problem is not None:
        raise InvalidInput(f"invalid path {_shorten(path)}: {problem}")
    return stripped


def _shorten(path: str) -> str:
    """A long path cut for an error message (one line, readable)."""
    return _printable(path if len(path) <= 80 else path[:40] + "..." + path[-30:])


def split_path(path: str) -> list[str]:
    """The components of a normalized path (none for the root)."""
    return path.split("/") if path else []
