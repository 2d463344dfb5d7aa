"""A backend in process memory: for tests and throwaway stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from storage.backends.base import Backend
from storage.errors import ObjectNotFound


class MemoryBackend(Backend):
    """Objects in a dict; nothing survives the process."""

    def __init__(self) -> None:
        self.url = "memory://"
        self._objects: dict[str, bytes] = {}
        self._times: dict[str, float] = {}
        self._meta: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, oid: str, data: bytes | memoryview) -> None:
        with self._lock:
            self._objects.setdefault(oid, bytes(data))
            self._times[oid] = time.time()

    def get(self, oid: str) -> bytes:
        try:
            return self._objects[oid]
        except KeyError:
            raise ObjectNotFound(oid, self.url) from None

    def exists(self, oid: str) -> bool:
        return oid in self._objects

    def delete(self, oid: str) -> None:
        with self._lock:
            self._objects.pop(oid, None)
            self._times.pop(oid, None)

    def iter_ids(self) -> Iterator[str]:
        yield from list(self._objects)

    def iter_stat(self) -> Iterator[tuple[str, float, int]]:
        yield from [(oid, self._times.get(oid, 0.0), len(d)) for oid, d in list(self._objects.items())]

    def mtime(self, oid: str) -> float | None:
        return self._times.get(oid) if oid in self._objects else None

    def touch(self, oid: str) -> None:
        if oid in self._objects:
            self._times[oid] = time.time()

    def read_meta(self, name: str) -> bytes | None:
        return self._meta.get(name)

    def write_meta(self, name: str, data: bytes) -> None:
        self._meta[name] = bytes(data)

    def corrupt(self, oid: str, data: bytes) -> None:
        """Replace an object's bytes behind the store's back (fault tests)."""
        self._objects[oid] = data
