"""A backend opened on first use: a listing answered from the local cache never imports boto3.

Creating an S3 client (importing boto3 and botocore, loading their service models) costs
more CPU than a whole ``datavc ls``. Behind a read-through cache, a read-only command
often needs no remote object at all, so :class:`LazyBackend` stands in for the real
backend and opens it (with :func:`storage.backends.open_backend`) only when a method
needs it. Everything is delegated unchanged, errors included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from storage.backends import open_backend
from storage.backends.base import Backend


class LazyBackend(Backend):
    """The backend ``url`` names, opened when first used."""

    def __init__(self, url: str, *, cheap_exists: bool = False) -> None:
        """Args:
        url: an object store URL, as for :func:`~storage.backends.open_backend`.
        cheap_exists: what the real backend will report (False for remote ones), so a
            store built on this one picks the right read window without opening it.
        """
        self.url = url
        self.cheap_exists = cheap_exists
        self._backend: Backend | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        """Whether the real backend has been opened (tests, diagnostics)."""
        return self._backend is not None

    def _real(self) -> Backend:
        with self._lock:
            if self._backend is None:
                self._backend = open_backend(self.url)
            return self._backend

    def put(self, oid: str, data: bytes | memoryview) -> None:
        self._real().put(oid, data)

    def put_cold(self, oid: str, data: bytes | memoryview) -> None:
        self._real().put_cold(oid, data)

    def put_unsynced(self, oid: str, data: bytes | memoryview) -> None:
        self._real().put_unsynced(oid, data)

    def put_pieces(
        self, oid: str, pieces: Sequence[bytes | memoryview], *, synced: bool = True, cold: bool = False
    ) -> None:
        self._real().put_pieces(oid, pieces, synced=synced, cold=cold)

    def sync(self, oids: Sequence[str]) -> None:
        self._real().sync(oids)

    def get(self, oid: str) -> bytes:
        return self._real().get(oid)

    def get_transient(self, oid: str) -> bytes:
        return self._real().get_transient(oid)

    def get_cold(self, oid: str) -> bytes:
        return self._real().get_cold(oid)

    def exists(self, oid: str) -> bool:
        return self._real().exists(oid)

    def delete(self, oid: str) -> None:
        self._real().delete(oid)

    def iter_ids(self) -> Iterator[str]:
        return self._real().iter_ids()

    def iter_stat(self) -> Iterator[tuple[str, float, int]]:
        return self._real().iter_stat()

    def mtime(self, oid: str) -> float | None:
        return self._real().mtime(oid)

    def touch(self, oid: str) -> None:
        self._real().touch(oid)

    def read_meta(self, name: str) -> bytes | None:
        return self._real().read_meta(name)

    def write_meta(self, name: str, data: bytes) -> None:
        self._real().write_meta(name, data)

    def size(self, oid: str) -> int | None:
        return self._real().size(oid)

    def replace(self, oid: str, data: bytes | memoryview) -> None:
        self._real().replace(oid, data)

    def close(self) -> None:
        with self._lock:
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()
