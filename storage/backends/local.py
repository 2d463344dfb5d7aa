"""A backend in a local directory: ``objects/ab/cd/<id>``, written once via temp file + fsync + rename.

Group commit: :meth:`LocalBackend.put_unsynced` writes the object (temp file + rename)
without flushing it, and :meth:`LocalBackend.sync` flushes many such objects and their
directories at once (a writer's barrier). Two ``fsync`` calls per object cost several
milliseconds on most disks, more than a small datum; flushed together, from several
threads, the file system commits them in one journal transaction.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from storage.backends.base import Backend
from storage.errors import BackendUnavailable, ObjectNotFound
from storage.fileio import atomic_write, fsync_dir, read_direct


class LocalBackend(Backend):
    """Objects as files under ``root/objects`` with two levels of fan-out directories."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root).absolute()
        self.url = str(self.root)
        self.fsync = fsync
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"
        # String paths on the per-object path: pathlib's joins cost more than the syscalls.
        self._objects_s = str(self._objects)
        self._tmp_s = str(self._tmp)
        try:
            self._objects.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BackendUnavailable(f"cannot create object directory {self.root}: {err.strerror}") from err
        self._made: set[str] = set()
        self._fresh: set[str] = set()  # fan-out directories made since the last sync
        self._fresh_lock = threading.Lock()

    def _path(self, oid: str) -> Path:
        return Path(self._spath(oid))

    def _spath(self, oid: str) -> str:
        return f"{self._objects_s}/{oid[:2]}/{oid[2:4]}/{oid}"

    def put(self, oid: str, data: bytes | memoryview) -> None:
        if os.path.exists(self._spath(oid)):
            return
        self._write(oid, data)

    def put_cold(self, oid: str, data: bytes | memoryview) -> None:
        if os.path.exists(self._spath(oid)):
            return
        self._write(oid, data, cached=False)

    def put_unsynced(self, oid: str, data: bytes | memoryview) -> None:
        """:meth:`put` without the flushes: durable only after :meth:`sync` of ``oid``."""
        if os.path.exists(self._spath(oid)):
            return
        self._write(oid, data, fsync=False)

    def put_pieces(
        self, oid: str, pieces: Sequence[bytes | memoryview], *, synced: bool = True, cold: bool = False
    ) -> None:
        """Write the pieces one after the other into the object's file (no joined copy)."""
        if self._path(oid).exists():
            return
        self._write(oid, pieces, fsync=synced, cached=not cold)

    def sync(self, oids: Sequence[str]) -> None:
        """Flush ``oids`` (files, then their directories and any fan-out directory made).

        Raises:
            BackendUnavailable: an object is missing or cannot be flushed.
        """
        if not self.fsync:
            return
        dirs: set[str] = set()
        for oid in oids:
            path = self._spath(oid)
            try:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as err:
                why = f"cannot flush object {oid} under {self.root}: {err.strerror}"
                raise BackendUnavailable(why) from err
            dirs.add(path.rsplit("/", 1)[0])
        with self._fresh_lock:
            fresh, self._fresh = self._fresh, set()
        for prefix in fresh:  # a new ab/cd: its entry in ab/, and ab's in objects/
            dirs.add(f"{self._objects_s}/{prefix[:2]}")
            dirs.add(self._objects_s)
        try:
            for d in sorted(dirs, key=lambda p: -p.count("/")):  # deepest first
                fsync_dir(d)
        except OSError as err:
            with self._fresh_lock:
                self._fresh |= fresh
            raise BackendUnavailable(f"cannot flush objects under {self.root}: {err.strerror}") from err

    def replace(self, oid: str, data: bytes | memoryview) -> None:
        """Atomically swap a damaged copy for ``data`` (readers see the old or the new file)."""
        self._write(oid, data)

    def size(self, oid: str) -> int | None:
        try:
            return os.stat(self._spath(oid)).st_size
        except FileNotFoundError:
            return None

    def _write(
        self,
        oid: str,
        data: bytes | memoryview | Sequence[bytes | memoryview],
        *,
        fsync: bool = True,
        cached: bool = True,
    ) -> None:
        path = self._spath(oid)
        parent = oid[:4]
        if parent not in self._made:
            folder = path.rsplit("/", 1)[0]
            if not os.path.isdir(folder):
                os.makedirs(folder, exist_ok=True)
                if not fsync:
                    with self._fresh_lock:
                        self._fresh.add(parent)
            self._made.add(parent)
        try:
            # Read-only: an object never changes. Temp files stay out of objects/ (iter_ids).
            atomic_write(
                path,
                data,
                fsync=self.fsync and fsync,
                mode=0o444,
                tmp_dir=self._tmp_s,
                prefix=oid[:8] + ".",
                cached=cached,
            )
        except OSError as err:
            raise BackendUnavailable(f"cannot write object {oid} under {self.root}: {err.strerror}") from err

    def get(self, oid: str) -> bytes:
        try:
            with open(self._spath(oid), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ObjectNotFound(oid, self.url) from None
        except OSError as err:
            raise BackendUnavailable(f"cannot read object {oid} under {self.root}: {err.strerror}") from err

    def get_cold(self, oid: str) -> bytes:
        try:
            data = read_direct(self._spath(oid))
        except FileNotFoundError:
            raise ObjectNotFound(oid, self.url) from None
        except OSError as err:
            raise BackendUnavailable(f"cannot read object {oid} under {self.root}: {err.strerror}") from err
        return self.get(oid) if data is None else data

    def exists(self, oid: str) -> bool:
        return os.path.exists(self._spath(oid))

    def delete(self, oid: str) -> None:
        try:
            self._path(oid).unlink()
        except FileNotFoundError:
            pass

    def iter_ids(self) -> Iterator[str]:
        for top in sorted(os.scandir(self._objects), key=lambda e: e.name):
            if not top.is_dir():
                continue
            for mid in os.scandir(top.path):
                if not mid.is_dir():
                    continue
                for obj in os.scandir(mid.path):
                    yield obj.name

    def iter_stat(self) -> Iterator[tuple[str, float, int]]:
        for top in os.scandir(self._objects):
            if not top.is_dir():
                continue
            for mid in os.scandir(top.path):
                if not mid.is_dir():
                    continue
                for obj in os.scandir(mid.path):
                    try:
                        st = obj.stat()
                    except FileNotFoundError:
                        continue
                    yield obj.name, st.st_mtime, st.st_size

    def mtime(self, oid: str) -> float | None:
        try:
            return self._path(oid).stat().st_mtime
        except FileNotFoundError:
            return None

    def touch(self, oid: str) -> None:
        try:
            os.utime(self._path(oid))
        except FileNotFoundError:
            pass
        except OSError as err:
            raise BackendUnavailable(f"cannot touch object {oid} under {self.root}: {err.strerror}") from err

    def object_path(self, oid: str) -> Path:
        """Where ``oid`` lives on disk (fault tests and diagnostics)."""
        return self._path(oid)

    def read_meta(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def write_meta(self, name: str, data: bytes) -> None:
        atomic_write(self.root / name, data, mode=0o600, tmp_dir=self._tmp, prefix="meta.")
