"""The one small interface every object backend implements.

A backend stores opaque immutable blobs under ids and a few small named metadata
documents. It does not hash or verify: :class:`storage.store.ObjectStore` does that
on every read, for every backend alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence


class Backend(ABC):
    """Write-once blob storage keyed by object id."""

    #: A URL that opens this backend again (``memory://``, a local path, ``s3://bucket/prefix``).
    url: str

    #: Whether :meth:`exists` is cheap enough to call before every write.
    cheap_exists: bool = True

    @abstractmethod
    def put(self, oid: str, data: bytes | memoryview) -> None:
        """Store ``data`` under ``oid``. Writing an id that exists is a harmless no-op.

        Raises:
            BackendUnavailable: the backend failed after bounded retries.
        """

    def put_unsynced(self, oid: str, data: bytes | memoryview) -> None:
        """:meth:`put` whose durability may wait for :meth:`sync` (a group commit).

        A backend whose writes cost a flush to disk each (a local directory) writes the
        object now and flushes it in :meth:`sync`, together with many others; every other
        backend is durable on :meth:`put` and this is the same call. Until ``sync`` returns,
        the object may be lost or torn in a crash (readers verify every object by hash).
        """
        self.put(oid, data)

    def put_cold(self, oid: str, data: bytes | memoryview) -> None:
        """:meth:`put` of bytes nobody will read again soon (a chunk of a very large file).

        A local directory writes them as usual and then drops their pages from the page
        cache: a file larger than the cache would otherwise evict everything else, and each
        new write would pay to reclaim the pages before it. Elsewhere this is :meth:`put`.
        """
        self.put(oid, data)

    def put_pieces(
        self, oid: str, pieces: Sequence[bytes | memoryview], *, synced: bool = True, cold: bool = False
    ) -> None:
        """:meth:`put` of the pieces' concatenation (:meth:`put_unsynced` without ``synced``,
        else :meth:`put_cold` with ``cold``).

        A backend that can write the pieces as they are (a local file) does so, without
        joining them into one buffer first.
        """
        data = b"".join(pieces)
        if not synced:
            self.put_unsynced(oid, data)
        elif cold:
            self.put_cold(oid, data)
        else:
            self.put(oid, data)

    def sync(self, oids: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Make ``oids`` durable: objects written with :meth:`put_unsynced`, or found stored.

        Raises:
            BackendUnavailable: an object is gone or cannot be flushed.
        """

    @abstractmethod
    def get(self, oid: str) -> bytes:
        """The bytes stored under ``oid``, unverified.

        Raises:
            ObjectNotFound: no such object.
            BackendUnavailable: the backend failed after bounded retries.
        """

    def get_transient(self, oid: str) -> bytes:
        """:meth:`get` for a reader that keeps the bytes itself (a working copy, an exported file).

        A caching backend need not keep its own copy then, so a cold read writes each byte
        to local disk once. Unverified, like :meth:`get`.
        """
        return self.get(oid)

    def get_cold(self, oid: str) -> bytes:
        """:meth:`get_transient` for the chunks of a large file read once: a local directory
        reads them past the page cache (see :func:`storage.fileio.read_direct`)."""
        return self.get_transient(oid)

    @abstractmethod
    def exists(self, oid: str) -> bool:
        """Whether an object is stored under ``oid``."""

    @abstractmethod
    def delete(self, oid: str) -> None:
        """Remove ``oid``; removing a missing object is not an error."""

    @abstractmethod
    def iter_ids(self) -> Iterator[str]:
        """Every stored object id, in no particular order, streamed."""

    @abstractmethod
    def iter_stat(self) -> Iterator[tuple[str, float, int]]:
        """Every stored object as (id, last modified as a POSIX time, size), streamed."""

    @abstractmethod
    def mtime(self, oid: str) -> float | None:
        """When ``oid`` was last written or touched (POSIX time), or None if it is missing."""

    @abstractmethod
    def touch(self, oid: str) -> None:
        """Mark ``oid`` as just used, so a concurrent gc's grace period protects it.

        Writers call this when they reuse an object that already exists instead of writing it.
        """

    @abstractmethod
    def read_meta(self, name: str) -> bytes | None:
        """A small named metadata document (such as the store config), or None."""

    @abstractmethod
    def write_meta(self, name: str, data: bytes) -> None:
        """Write a small named metadata document, replacing any earlier one."""

    def size(self, oid: str) -> int | None:
        """The stored size of ``oid`` in bytes, or None if it is missing (a cheap check on dedup).

        The default reads the object; backends override it with a stat or a HEAD.
        """
        from storage.errors import ObjectNotFound

        try:
            return len(self.get(oid))
        except ObjectNotFound:
            return None

    def replace(self, oid: str, data: bytes | memoryview) -> None:
        """Overwrite whatever is stored under ``oid`` (a damaged copy) with ``data``.

        The caller has checked that ``data`` hashes to ``oid``: this is how a damaged
        object is healed, since :meth:`put` of an existing id does nothing.
        """
        self.delete(oid)
        self.put(oid, data)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and threads."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
