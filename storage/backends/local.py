"""A backend in a local directory: ``objects/ab/cd/<id>``, written once via temp file + fsync + rename."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from storage.backends.base import Backend
from storage.errors import BackendUnavailable, ObjectNotFound
from storage.fileio import atomic_write


class LocalBackend(Backend):
    """Objects as files under ``root/objects`` with two levels of fan-out directories."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root).absolute()
        self.url = str(self.root)
        self.fsync = fsync
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"
        try:
            self._objects.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BackendUnavailable(f"cannot create object directory {self.root}: {err.strerror}") from err
        self._made: set[str] = set()

    def _path(self, oid: str) -> Path:
        return self._objects / oid[:2] / oid[2:4] / oid

    def put(self, oid: str, data: bytes | memoryview) -> None:
        path = self._path(oid)
        if path.exists():
            return
        parent = oid[:4]
        if parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(parent)
        try:
            # Read-only: an object never changes. Temp files stay out of objects/ (iter_ids).
            atomic_write(path, data, fsync=self.fsync, mode=0o444, tmp_dir=self._tmp, prefix=oid[:8] + ".")
        except OSError as err:
            raise BackendUnavailable(f"cannot write object {oid} under {self.root}: {err.strerror}") from err

    def get(self, oid: str) -> bytes:
        try:
            with open(self._path(oid), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ObjectNotFound(oid, self.url) from None
        except OSError as err:
            raise BackendUnavailable(f"cannot read object {oid} under {self.root}: {err.strerror}") from err

    def exists(self, oid: str) -> bool:
        return self._path(oid).exists()

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
