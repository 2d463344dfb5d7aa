"""A local-disk read-through cache in front of a remote backend.

Safe because objects never change: a cached copy is either the object's bytes or
corrupt, and every hit is verified against its id, so a corrupt copy is dropped and
fetched again, never returned. Files are written by temp file + rename (no fsync: losing
a cache file only costs a refetch). With ``max_bytes`` the cache evicts the least
recently used files (by mtime, refreshed on every hit) when it grows past the cap.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from storage.backends.base import Backend
from storage.errors import CorruptObject, InvalidInput
from storage.fileio import atomic_write
from storage.hashing import HashAlgorithm


def _warn(msg: str, *args: object) -> None:
    """A warning on this module's logger (logging is imported here: a listing's start need not pay it)."""
    import logging

    logging.getLogger(__name__).warning(msg, *args, stacklevel=2)  # the caller's line


#: After this many writes the cache is measured again, in case other processes share it.
CACHE_ON_PUT_LIMIT = 256 * 1024
RESCAN_EVERY = 1000
#: Eviction frees space down to this fraction of ``max_bytes`` so it does not run on every write.
LOW_WATER = 0.9
#: Temp files older than this (seconds) are leftovers of a crashed writer.
STALE_TEMP_AGE = 3600.0


class CachedBackend(Backend):
    """Objects read from ``remote`` once, then from ``cache_dir``; everything else goes to ``remote``."""

    def __init__(
        self,
        remote: Backend,
        cache_dir: str | os.PathLike[str],
        algorithm: HashAlgorithm,
        max_bytes: int | None = None,
    ) -> None:
        """Put a cache in ``cache_dir`` (created if missing) in front of ``remote``.

        Args:
            remote: the backend that holds the objects.
            cache_dir: a local directory for cached copies; several caches may share it.
            algorithm: the store's hash algorithm, used to verify cached copies.
            max_bytes: keep the cache at about this size by evicting least recently used
                copies; None for no limit.

        Raises:
            InvalidInput: ``max_bytes`` is negative or the directory cannot be created.
        """
        if max_bytes is not None and max_bytes < 0:
            raise InvalidInput(f"max_bytes must not be negative, not {max_bytes}")
        self.remote = remote
        self.url = remote.url
        self.cheap_exists = remote.cheap_exists
        self.algorithm = algorithm
        self.max_bytes = max_bytes
        self.cache_dir = Path(cache_dir).absolute()
        self._objects = self.cache_dir / "objects"
        self._tmp = self.cache_dir / "tmp"
        try:
            self._objects.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InvalidInput(f"cannot create cache directory {self.cache_dir}: {err.strerror}") from err
        self._lock = threading.Lock()  # guards the counters below
        self._evict_lock = threading.Lock()  # one eviction at a time
        self._size: int | None = None  # bytes cached, measured lazily; None = not yet measured
        self._writes = 0

    def cache_path(self, oid: str) -> Path:
        """Where the cached copy of ``oid`` lives (fault tests and diagnostics)."""
        return self._objects / oid[:2] / oid

    # -- reads ------------------------------------------------------------------------

    def get(self, oid: str) -> bytes:
        """The bytes of ``oid``: a verified cached copy, else fetched, verified and cached.

        Raises:
            ObjectNotFound: the remote does not hold ``oid``.
            CorruptObject: the remote's bytes do not hash to ``oid`` (they are not cached).
            BackendUnavailable: the remote failed.
        """
        path = self.cache_path(oid)
        data = self._read_cached(path)
        if data is not None:
            if self.algorithm.digest(data) == oid:
                with contextlib.suppress(OSError):
                    os.utime(path)  # recently used: evicted last
                return data
            _warn("dropping corrupt cached copy of object %s at %s", oid, path)
            self._drop(path)
        data = self.remote.get(oid)
        actual = self.algorithm.digest(data)
        if actual != oid:
            raise CorruptObject(oid, actual, self.remote.url)
        self._store(oid, data)
        return data

    def get_transient(self, oid: str) -> bytes:
        """A cached copy when there is one, else the remote's bytes, cached only when small.

        The caller writes the bytes to local disk itself (a checkout), so caching a large
        chunk would double the disk writes of a cold read; small objects (trees, which
        every later read walks) are kept, as on :meth:`put`. A cached copy is used (and a
        corrupt one dropped) as by :meth:`get`; fetched bytes are verified by the caller
        (:meth:`ObjectStore.get_object`), and here before they are cached.
        """
        path = self.cache_path(oid)
        if path.exists():
            return self.get(oid)
        data = self.remote.get(oid)
        if len(data) <= CACHE_ON_PUT_LIMIT and self.algorithm.digest(data) == oid:
            self._store(oid, data)
        return data

    @staticmethod
    def _read_cached(path: Path) -> bytes | None:
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as err:  # an unreadable cache only costs a refetch
            _warn("cannot read cached object %s: %s", path, err.strerror)
            return None

    def exists(self, oid: str) -> bool:
        return self.cache_path(oid).exists() or self.remote.exists(oid)

    def iter_ids(self) -> Iterator[str]:
        return self.remote.iter_ids()

    def iter_stat(self) -> Iterator[tuple[str, float, int]]:
        return self.remote.iter_stat()

    def mtime(self, oid: str) -> float | None:
        return self.remote.mtime(oid)

    def touch(self, oid: str) -> None:
        self.remote.touch(oid)

    def read_meta(self, name: str) -> bytes | None:
        return self.remote.read_meta(name)

    # -- writes -----------------------------------------------------------------------

    def put(self, oid: str, data: bytes | memoryview) -> None:
        """Write ``data`` to the remote, and small objects (trees) to the cache too.

        Large chunks are not copied into the cache on upload: an ingest would write every
        byte twice; reads fill the cache when the data is actually wanted.
        """
        self.remote.put(oid, data)
        if len(data) <= CACHE_ON_PUT_LIMIT:
            self._store(oid, data)

    def size(self, oid: str) -> int | None:
        return self.remote.size(oid)

    def replace(self, oid: str, data: bytes | memoryview) -> None:
        self.remote.replace(oid, data)
        self._drop(self.cache_path(oid))

    def delete(self, oid: str) -> None:
        self.remote.delete(oid)
        self._drop(self.cache_path(oid))

    def write_meta(self, name: str, data: bytes) -> None:
        self.remote.write_meta(name, data)

    def close(self) -> None:
        self.remote.close()

    # -- the cache directory ----------------------------------------------------------

    def _store(self, oid: str, data: bytes | memoryview) -> None:
        """Cache a copy of ``oid`` atomically; failures only cost a later refetch."""
        size = len(data)
        if self.max_bytes is not None and size > self.max_bytes:
            return
        path = self.cache_path(oid)
        try:
            path.parent.mkdir(exist_ok=True)
            atomic_write(path, data, fsync=False, mode=0o600, tmp_dir=self._tmp, prefix=oid[:8] + ".")
        except OSError as err:
            _warn("cannot cache object %s in %s: %s", oid, self.cache_dir, err.strerror)
            return
        if self.max_bytes is None:
            return
        with self._lock:
            self._writes += 1
            if self._size is not None:
                self._size += size
            due = self._size is None or self._size > self.max_bytes or self._writes >= RESCAN_EVERY
        if due:
            self._evict()

    def _drop(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as err:
            _warn("cannot remove cached object %s: %s", path, err.strerror)
            return
        with self._lock:
            if self._size is not None:
                self._size -= size

    def _evict(self) -> None:
        """Measure the cache and, if over ``max_bytes``, remove least recently used copies."""
        assert self.max_bytes is not None
        if not self._evict_lock.acquire(blocking=False):
            return  # another thread is at it
        try:
            try:
                entries, total = self._scan()
            except OSError as err:
                _warn("cannot measure cache %s: %s", self.cache_dir, err.strerror)
                return
            if total > self.max_bytes:
                target = int(self.max_bytes * LOW_WATER)
                entries.sort()
                for _, size, path in entries:
                    if total <= target:
                        break
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass  # another process evicted it
                    except OSError as err:
                        _warn("cannot evict cached object %s: %s", path, err.strerror)
                        continue
                    total -= size
            with self._lock:
                self._size = total
                self._writes = 0
        finally:
            self._evict_lock.release()

    def _scan(self) -> tuple[list[tuple[float, int, str]], int]:
        """Every cached copy as ``(mtime, size, path)``, and their total size; removes stale temps."""
        entries: list[tuple[float, int, str]] = []
        total = 0
        for top in os.scandir(self._objects):
            if not top.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(top.path):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                entries.append((st.st_mtime, st.st_size, entry.path))
                total += st.st_size
        stale = time.time() - STALE_TEMP_AGE
        for entry in os.scandir(self._tmp):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < stale:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass
        return entries, total
