"""Writers of a store with shared upload threads (a server: one writer per request)."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from storage.backends.local import LocalBackend
from storage.chunking import ChunkParams
from storage.errors import StorageError
from storage.store import ObjectStore

SMALL = ChunkParams(1024, 4096, 16384)


def _store(tmp_path: Path) -> ObjectStore:
    store = ObjectStore.init(LocalBackend(tmp_path / "objects"), chunking=SMALL)
    store.share_write_threads(2)
    return store


def test_concurrent_writers_on_shared_threads_store_everything(tmp_path: Path) -> None:
    store = _store(tmp_path)
    datas = [random.Random(i).randbytes(200_000 + i) for i in range(6)]
    entries: dict[int, object] = {}

    def put(i: int) -> None:
        with store.writer() as w:
            entries[i] = w.put_bytes(datas[i], f"f{i}")

    threads = [threading.Thread(target=put, args=(i,)) for i in range(len(datas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, data in enumerate(datas):
        assert store.read_bytes(entries[i]) == data  # type: ignore[arg-type]
    pool = store._write_pool
    assert pool is not None and not pool._shutdown  # a writer's end leaves the shared threads running
    with store.writer() as w:  # and the next writer uses them
        again = w.put_bytes(b"again" * 1000, "g")
    assert store.read_bytes(again) == b"again" * 1000
    store.close()
    assert store._write_pool is None


def test_an_aborted_writer_on_shared_threads_stops_and_others_go_on(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(RuntimeError), store.writer() as w:
        w.put_bytes(random.Random(1).randbytes(300_000), "cut")
        raise RuntimeError("the upload was cut")
    assert not w._futures  # nothing of the aborted writer is left queued or running
    with pytest.raises(StorageError):
        w.put_bytes(b"late", "late")  # closed
    with store.writer() as w2:
        e = w2.put_bytes(b"fine" * 5000, "fine")
    assert store.read_bytes(e) == b"fine" * 5000
    store.close()
