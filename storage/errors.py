"""The storage layer's exceptions: one root, a few specific kinds with structured fields."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error raised by :mod:`storage`."""


class ObjectNotFound(StorageError):
    """An object id that the backend does not hold."""

    def __init__(self, oid: str, where: str = "") -> None:
        self.oid = oid
        self.where = where
        super().__init__(f"object {oid} not found" + (f" in {where}" if where else ""))


class CorruptObject(StorageError):
    """An object whose bytes do not hash to its id; the bytes are never returned."""

    def __init__(self, oid: str, actual: str, where: str = "") -> None:
        self.oid = oid
        self.expected = oid
        self.actual = actual
        self.where = where
        place = f" in {where}" if where else ""
        super().__init__(f"object {oid} is corrupt{place}: its content hashes to {actual}")


class MalformedTree(CorruptObject):
    """A tree object whose bytes hash to its id but whose content is not a valid tree.

    A crafted or buggy writer can store any bytes under their own id, so a tree's names,
    sizes and references are checked when it is decoded: an entry named ``..`` or ``/tmp/x``
    must never reach code that writes files.
    """

    def __init__(self, oid: str, reason: str, where: str = "") -> None:
        StorageError.__init__(self, f"tree object {oid} is corrupt: {reason}")
        self.oid = oid
        self.expected = oid
        self.actual = oid
        self.where = where
        self.reason = reason


class MalformedIndex(MalformedTree):
    """An index object (a large file's list of data refs, :mod:`storage.index`) that hashes to
    its id but is not a valid index: bad heights, ids or numbers, or totals that do not add up."""

    def __init__(self, oid: str, reason: str, where: str = "") -> None:
        super().__init__(oid, reason, where)
        self.args = (f"index object {oid} is corrupt: {reason}",)


class BackendUnavailable(StorageError):
    """The backend could not be reached or kept failing after bounded retries."""


class InvalidInput(StorageError):
    """Input the store refuses: a bad path or name, an unreadable file, a symlink loop."""


class PathConflict(InvalidInput):
    """A change that needs a path to be a directory where it is a file, or the reverse."""


class StoreConfigError(StorageError):
    """The store's recorded configuration is missing, unreadable or disagrees with the caller."""
