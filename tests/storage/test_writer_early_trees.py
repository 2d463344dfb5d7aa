"""Trees written before the barrier (``Writer._release_trees``): only once the data before them is stored.

On the real local backend; the order of writes is recorded by wrapping the backend's own
``put`` (the writes still happen).
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import wait
from pathlib import Path

from storage.backends.local import LocalBackend
from storage.store import ObjectStore
from storage.tree import TreeBuilder
from tests.storage.helpers import SMALL_CHUNKS, SMALL_PACK


def _recorded(tmp_path: Path) -> tuple[ObjectStore, list[tuple[str, str]]]:
    """A local store whose writes are logged as ("start"/"end", oid), in the order they happen."""
    store = ObjectStore.init(str(tmp_path / "objects"), chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)
    backend = store.backend
    assert isinstance(backend, LocalBackend)
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    real_put = backend.put

    def put(oid: str, data: bytes | memoryview) -> None:
        with lock:
            log.append(("start", oid))
        real_put(oid, data)
        with lock:
            log.append(("end", oid))

    backend.put = put  # type: ignore[method-assign]
    return store, log


def _files() -> dict[str, bytes]:
    files = {f"d{i:02d}/f{j:02d}": bytes([i, j]) * 700 for i in range(11) for j in range(30)}
    files.update({f"d11/f{j:03d}": bytes([11, j]) * 700 for j in range(100)})  # a few packs more
    return files


def test_trees_built_as_files_arrive_are_written_early_and_only_after_their_data(tmp_path: Path) -> None:
    store, log = _recorded(tmp_path)
    files = _files()
    with store.writer() as w:
        builder = TreeBuilder(w.trees)
        for p, entry in w.iter_put_streams([(p, len(d), io.BytesIO(d)) for p, d in files.items()]):
            builder.add(p, entry)
            if p == "d11/f000":  # d00..d10 are complete: let their data land (no race on timing)
                wait(list(w._futures))
        root = builder.finish()
        # handed to the upload threads before the barrier (they may not have started it yet)
        queued_at_barrier = set(w._queued_trees)
    for p, d in files.items():
        entry = store.get_entry(root, p)
        assert entry is not None and store.read_bytes(entry) == d
    ended_before: dict[str, set[str]] = {}  # object -> objects whose write had ended when it started
    ended: set[str] = set()
    for what, oid in log:
        if what == "start":
            ended_before[oid] = set(ended)
        else:
            ended.add(oid)
    dirs = sorted({p.split("/")[0] for p in files})
    early = 0
    for d in dirs:
        page = store.get_entry(root, d)
        assert page is not None and page.is_dir
        data = {r.oid for p in files if p.startswith(d + "/") for r in store.get_entry(root, p).refs}  # type: ignore[union-attr]
        assert data <= ended_before[page.hash], f"the tree of {d} was written before its data"
        early += page.hash not in queued_at_barrier
    assert early >= 1  # d00..d10 were released at a pack sealed after their data was stored
    all_data = {r.oid for p in files for r in store.get_entry(root, p).refs}  # type: ignore[union-attr]
    assert all_data <= ended_before[root]
