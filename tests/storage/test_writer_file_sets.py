"""``Writer.put_file_sets``: several small directories given in memory, their files in one pack;
``inline_writes``: objects written by the calling thread, only the barrier's flushes on the pool."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from storage.errors import InvalidInput
from storage.store import ObjectStore


def test_each_set_gets_the_tree_put_dir_gives_and_all_share_one_pack(tmp_path: Path) -> None:
    store = ObjectStore.init(str(tmp_path / "objects"))
    sets = [[("b", b"two"), ("a", f"one {i}".encode())] for i in range(5)] + [[]]
    with store.writer(group_sync=True) as w:
        trees, _ = w.put_file_sets(sets)
    expected = []
    for i, files in enumerate(sets):
        d = tmp_path / f"d{i}"
        d.mkdir()
        for name, data in files:
            (d / name).write_bytes(data)
        with store.writer() as w2:
            expected.append(w2.put_dir(d))

    def listing(tree: str) -> dict[str, tuple[int, str]]:
        return {p: (e.size, e.hash) for p, e in store.walk(tree)}

    # The same files (the refs differ: other packs); an empty set is the empty tree.
    assert [listing(t) for t in trees] == [listing(t) for t in expected]
    assert trees[-1] == expected[-1] == store.empty_tree()
    packs = {r.oid for t in trees[:-1] for _, e in store.trees.walk(t) for r in e.refs}
    assert len(packs) == 1
    assert _read(store, trees[2], "a") == b"one 2"


def _read(store: ObjectStore, tree: str, path: str) -> bytes:
    entry = store.get_entry(tree, path)
    assert entry is not None
    return store.read_bytes(entry)


@pytest.mark.parametrize("files", [[("a", b"1"), ("a", b"2")], [("..", b"x")], [("a\x01", b"x")]])
def test_a_set_with_a_refused_or_repeated_path_is_refused(
    tmp_path: Path, files: list[tuple[str, bytes]]
) -> None:
    store = ObjectStore.init(str(tmp_path / "objects"))
    with store.writer() as w, pytest.raises(InvalidInput):
        w.put_file_sets([files])


class _CountingPool(ThreadPoolExecutor):
    """A real pool that records from which calls work was handed to it."""

    def __init__(self) -> None:
        super().__init__(2)
        self.names: list[str] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self.names.append(getattr(fn, "__name__", "?"))
        return super().submit(fn, *args, **kwargs)


def test_inline_writes_store_from_the_caller_and_flush_on_the_pool(tmp_path: Path) -> None:
    store = ObjectStore.init(str(tmp_path / "objects"))
    pool = _CountingPool()
    try:
        w = store.writer(group_sync=True, pool=pool, inline_writes=True)
        [tree], _ = w.put_file_sets([[("a", b"x" * 100)]])
        entry = store.trees.get(tree, "a")
        assert entry is not None
        assert store.backend.exists(entry.refs[0].oid)  # written already, before any barrier
        assert pool.names == []
        w.close()
        assert pool.names and set(pool.names) == {"sync"}  # only the flushes went to the pool
        assert _read(store, tree, "a") == b"x" * 100
    finally:
        pool.shutdown()
