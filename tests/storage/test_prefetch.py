"""storage.prefetch and the store's parallel file reads: in order, bounded, deduplicated, cancellable."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from storage.backends.memory import MemoryBackend
from storage.errors import CorruptObject
from storage.model import Entry
from storage.prefetch import fetch_in_order
from storage.store import ObjectStore
from tests.storage.helpers import SMALL_CHUNKS, SMALL_PACK


class _Slow:
    """A fetch that takes a little while and records how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls: list[str] = []

    def __call__(self, oid: str) -> bytes:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.calls.append(oid)
        time.sleep(0.005)
        with self.lock:
            self.running -= 1
        return oid.encode()


def test_results_come_in_order_with_a_bounded_window() -> None:
    fetch = _Slow()
    oids = [f"o{i}" for i in range(40)]
    with ThreadPoolExecutor(16) as pool:
        got = list(fetch_in_order(pool, fetch, oids, window=4))
    assert got == [(o, o.encode()) for o in oids]
    assert 1 < fetch.peak <= 4


def test_an_object_wanted_twice_in_the_window_is_fetched_once() -> None:
    fetch = _Slow()
    oids = ["pack", "pack", "pack", "x", "pack"]
    with ThreadPoolExecutor(4) as pool:
        got = [o for o, _ in fetch_in_order(pool, fetch, oids, window=8)]
    assert got == oids
    assert fetch.calls.count("pack") == 1


def test_stopping_early_cancels_what_has_not_started() -> None:
    fetch = _Slow()
    with ThreadPoolExecutor(1) as pool:
        it = fetch_in_order(pool, fetch, (f"o{i}" for i in range(100)), window=8)
        assert next(it)[0] == "o0"
        it.close()
    assert len(fetch.calls) < 10


class _RemoteLike(MemoryBackend):
    """A memory backend that answers like a remote one: slowly, and many requests at once."""

    cheap_exists = False

    def __init__(self) -> None:
        super().__init__()
        self.probe = _Slow()

    def get(self, oid: str) -> bytes:
        self.probe(oid)
        return super().get(oid)


def _store_with_file(size: int) -> tuple[ObjectStore, _RemoteLike, Entry, bytes]:
    backend = _RemoteLike()
    store = ObjectStore.init(backend, chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)
    data = random.Random(7).randbytes(size)
    with store.writer() as w:
        entry = w.put_bytes(data, "f")
    return store, backend, entry, data


def test_a_remote_file_read_fetches_objects_in_parallel() -> None:
    store, backend, entry, data = _store_with_file(2 * 1024 * 1024)
    assert len(entry.refs) > 8
    store._cache.clear()
    assert store.read_window > 1
    assert b"".join(store.iter_content(entry)) == data
    assert backend.probe.peak > 1
    # Ranges still come out right through the window.
    assert store.read_bytes(entry, 100_000, 300_000) == data[100_000:400_000]
    store.close()


def test_a_corrupt_object_in_the_window_is_still_caught() -> None:
    store, backend, entry, _data = _store_with_file(1024 * 1024)
    victim = entry.refs[3].oid
    backend._objects[victim] = b"x" * len(backend._objects[victim])
    store._cache.clear()
    with pytest.raises(CorruptObject):
        b"".join(store.iter_content(entry))
    store.close()
