"""Chunks of a very large stream are written "cold": flushed, then dropped from the page cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage import writer as writer_module
from storage.backends.local import LocalBackend
from storage.fileio import atomic_write
from storage.store import ObjectStore
from tests.storage.helpers import SMALL_CHUNKS, SMALL_PACK


class _Counting(LocalBackend):
    """A local directory that counts which kind of put stored each object."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.kinds: dict[str, int] = {"put": 0, "put_cold": 0}

    def put(self, oid: str, data: bytes | memoryview) -> None:
        self.kinds["put"] += 1
        super().put(oid, data)

    def put_cold(self, oid: str, data: bytes | memoryview) -> None:
        self.kinds["put_cold"] += 1
        super().put_cold(oid, data)


def test_a_streams_chunks_past_the_threshold_are_written_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "COLD_AFTER", 256 * 1024)
    backend = _Counting(tmp_path / "store")
    store = ObjectStore.init(backend, chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)
    data = os.urandom(1024 * 1024)
    with store.writer() as w:
        entry = w.put_bytes(data, "big.bin")
    assert backend.kinds["put"] > 0 and backend.kinds["put_cold"] > 0  # the first bytes stay cached
    assert b"".join(store.iter_content(entry)) == data
    assert store.fsck().ok


def test_an_uncached_atomic_write_holds_its_bytes(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write(target, [b"a" * 100_000, b"b" * 5], cached=False)
    assert target.read_bytes() == b"a" * 100_000 + b"b" * 5
    atomic_write(target, b"again", fsync=False, cached=False)  # dirty pages: written back, not lost
    assert target.read_bytes() == b"again"
