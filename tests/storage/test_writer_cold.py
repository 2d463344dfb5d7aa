"""Chunks of a very large stream are written "cold": flushed, then dropped from the page cache."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import ModuleType

import pytest

from storage import fileio
from storage import writer as writer_module
from storage.backends.local import LocalBackend
from storage.fileio import atomic_write
from storage.store import ObjectStore
from tests.storage.helpers import SMALL_CHUNKS, SMALL_PACK


def _record_drops(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[tuple[int, int]]:
    """The (offset, length) of every ``drop_cached`` call ``module`` makes (still carried out)."""
    calls: list[tuple[int, int]] = []
    real = module.drop_cached

    def recorded(fd: int, offset: int = 0, length: int = 0) -> None:
        calls.append((offset, length))
        real(fd, offset, length)

    monkeypatch.setattr(module, "drop_cached", recorded)
    return calls


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


def test_chunks_given_in_pieces_past_the_threshold_are_written_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "COLD_AFTER", 256 * 1024)
    backend = _Counting(tmp_path / "store")
    colds: list[bool] = []
    real = backend.put_pieces

    def put_pieces(oid: str, pieces: object, *, synced: bool = True, cold: bool = False) -> None:
        colds.append(cold)
        real(oid, pieces, synced=synced, cold=cold)  # type: ignore[arg-type]

    monkeypatch.setattr(backend, "put_pieces", put_pieces)
    store = ObjectStore.init(backend, chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)
    data = os.urandom(1024 * 1024)
    step = SMALL_CHUNKS.max_size
    with store.writer() as w:
        entry = w.put_chunks([[data[i : i + step]] for i in range(0, len(data), step)], "big.bin")
    assert False in colds and True in colds  # the first bytes stay cached
    assert b"".join(store.iter_content(entry)) == data


def test_a_cold_source_files_pages_are_dropped_as_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "COLD_AFTER", 256 * 1024)
    monkeypatch.setattr(writer_module, "_DROP_STEP", 128 * 1024)
    dropped = _record_drops(monkeypatch, writer_module)
    store = ObjectStore.init(LocalBackend(tmp_path / "store"), chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)
    src = tmp_path / "src.bin"
    data = os.urandom(1024 * 1024)
    src.write_bytes(data)
    with store.writer() as w:
        entry = w.put_file(src)
    assert b"".join(store.iter_content(entry)) == data
    assert src.read_bytes() == data  # advice only: the file is untouched
    assert dropped and dropped[0][0] == 256 * 1024  # its first part stays cached
    ends = [o + n for o, n in dropped]
    assert all(a == b for a, b in zip(ends, [o for o, _ in dropped[1:]], strict=False))  # contiguous
    assert ends[-1] > len(data) - 128 * 1024 - SMALL_CHUNKS.max_size


def test_a_stream_that_is_not_a_file_is_stored_as_usual(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "COLD_AFTER", 0)
    store = ObjectStore.init(LocalBackend(tmp_path / "store"), chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)
    data = os.urandom(300_000)
    r, w_ = os.pipe()
    def feed() -> None:
        os.write(w_, data)
        os.close(w_)

    feeder = threading.Thread(target=feed)
    feeder.start()
    with os.fdopen(r, "rb") as pipe, store.writer() as w:
        entry = w.put_stream(pipe, "piped")
    feeder.join()
    assert b"".join(store.iter_content(entry)) == data


def test_a_large_file_written_in_pieces_drops_its_pages_past_the_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where there is no direct I/O (see test_fileio_direct): written, then dropped."""
    monkeypatch.setattr(fileio, "_O_DIRECT", 0)
    monkeypatch.setattr(fileio, "_DROP_LAG", 64 * 1024)
    calls = _record_drops(monkeypatch, fileio)
    pieces = [os.urandom(16 * 1024) for _ in range(64)]  # 1 MiB
    target = tmp_path / "out.bin"
    atomic_write(target, iter(pieces), fsync=False, drop_after=256 * 1024)
    assert target.read_bytes() == b"".join(pieces)
    assert calls and all(offset >= 256 * 1024 for offset, _ in calls)  # the first part stays cached
    starts = sorted({o for o, _ in calls})
    assert starts[0] == 256 * 1024 and max(o + n for o, n in calls) > 1024 * 1024 - 2 * 64 * 1024
