"""A writer with ``group_sync``: objects written unflushed, flushed together at each barrier.

On the real local backend; what ``sync`` flushed is recorded by wrapping the backend's own
``sync`` (the flushes still happen).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.backends.local import LocalBackend
from storage.errors import BackendUnavailable
from storage.store import ObjectStore


def _spied(tmp_path: Path) -> tuple[ObjectStore, list[list[str]], list[str]]:
    store = ObjectStore.init(str(tmp_path / "objects"))
    backend = store.backend
    assert isinstance(backend, LocalBackend)
    syncs: list[list[str]] = []
    puts: list[str] = []
    real_sync, real_put = backend.sync, backend.put

    def sync(oids: list[str]) -> None:
        real_sync(oids)
        syncs.append(list(oids))

    def put(oid: str, data: bytes | memoryview) -> None:
        puts.append(oid)
        real_put(oid, data)

    backend.sync = sync  # type: ignore[method-assign]
    backend.put = put  # type: ignore[method-assign]
    return store, syncs, puts


def _tree(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    d = tmp_path / name
    d.mkdir()
    for n, data in files.items():
        (d / n).write_bytes(data)
    return d


def test_objects_are_flushed_together_at_the_barrier_and_not_one_by_one(tmp_path: Path) -> None:
    store, syncs, puts = _spied(tmp_path)
    with store.writer(group_sync=True) as w:
        trees = [w.put_dir(_tree(tmp_path, f"d{i}", {"a": f"a{i}".encode(), "b": b"same"})) for i in range(5)]
        assert syncs == []  # nothing flushed before the barrier
        w.flush()
        flushed = {oid for batch in syncs for oid in batch}
        for t in trees:  # each tree and every object it refers to
            assert t in flushed
            assert {r.oid for _, e in store.trees.walk(t) for r in e.refs} <= flushed
        # One more file after the barrier, whose pack is new: flushed at close.
        late = w.put_dir(_tree(tmp_path, "late", {"c": b"late"}))
        assert late not in flushed
    assert late in {oid for batch in syncs for oid in batch}
    assert puts == []  # never the per-object flushing put
    entry = store.get_entry(late, "c")
    assert entry is not None and store.read_bytes(entry) == b"late"


def test_an_object_found_stored_is_flushed_too(tmp_path: Path) -> None:
    store, syncs, _ = _spied(tmp_path)
    src = _tree(tmp_path, "d", {"a": b"x"})
    with store.writer(group_sync=True) as w:
        first = w.put_dir(src)
    syncs.clear()
    with store.writer(group_sync=True) as w:
        assert w.put_dir(src) == first  # written unflushed by another writer, maybe: flush it
    assert first in {oid for batch in syncs for oid in batch}


def test_a_failed_flush_fails_the_writer(tmp_path: Path) -> None:
    store = ObjectStore.init(str(tmp_path / "objects"))
    backend = store.backend
    assert isinstance(backend, LocalBackend)
    real_sync = backend.sync

    def sync(oids: list[str]) -> None:  # an object gone between its write and its flush
        backend.object_path(oids[0]).unlink()
        real_sync(oids)

    backend.sync = sync  # type: ignore[method-assign]
    w = store.writer(group_sync=True)
    w.put_dir(_tree(tmp_path, "d", {"a": b"gone"}))
    with pytest.raises(BackendUnavailable, match="cannot flush object"):
        w.close()
