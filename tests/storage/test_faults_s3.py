"""S3 going away in the middle of a write: bounded retries, a clear error, no dangling tree."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from storage.backends.s3 import S3Backend
from storage.errors import BackendUnavailable
from storage.store import ObjectStore
from storage.tree import decode_page, is_tree_object
from tests.helpers import make_bucket, use_s3_endpoint
from tests.storage.helpers import SMALL_CHUNKS, SMALL_PACK


class RecordingS3(S3Backend):
    """Records which objects were stored successfully, and kills the server after ``kill_after`` puts."""

    def __init__(self, url: str, kill: threading.Event, kill_after: int, **kw: object) -> None:
        super().__init__(url, **kw)  # type: ignore[arg-type]
        self.stored: dict[str, bytes] = {}
        self._kill = kill
        self._kill_after = kill_after
        self._lock = threading.Lock()

    def put(self, oid: str, data: bytes | memoryview) -> None:
        with self._lock:
            if len(self.stored) >= self._kill_after:
                self._kill.set()
        super().put(oid, data)
        with self._lock:
            self.stored[oid] = bytes(data)


def test_server_killed_mid_write_gives_backend_unavailable_and_no_dangling_tree(
    s3_server_factory: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = s3_server_factory()  # type: ignore[operator]
    use_s3_endpoint(monkeypatch, server.endpoint)
    url = f"s3://{make_bucket(server.endpoint)}/store"
    ObjectStore.init(url, chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)

    src = tmp_path / "src"
    for d in range(10):
        (src / f"d{d}").mkdir(parents=True)
        for f in range(30):
            (src / f"d{d}" / f"f{f}.txt").write_bytes(os.urandom(2000))
    (src / "big.bin").write_bytes(os.urandom(3_000_000))

    kill = threading.Event()
    killer = threading.Thread(target=lambda: kill.wait(120) and server.stop(), daemon=True)
    killer.start()
    backend = RecordingS3(url, kill, kill_after=20, max_attempts=3, connect_timeout=2, read_timeout=5)
    store = ObjectStore.open(backend)

    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info, store.writer() as w:
        w.put_dir(src)
    elapsed = time.monotonic() - started
    assert elapsed < 120, "bounded retries, never a hang"
    assert server.endpoint.split("//")[1] in str(info.value) or "S3" in str(info.value)
    assert kill.is_set() and len(backend.stored) >= 20

    # Every tree object that reached the bucket points only at objects that reached it too.
    for oid, data in backend.stored.items():
        if is_tree_object(data):
            page = decode_page(data, oid)
            for item in page.items:
                targets = [getattr(item, "oid", None)] + [r.oid for r in getattr(item, "refs", ())]
                if getattr(item, "kind", None) == "dir":
                    targets.append(item.hash)  # type: ignore[union-attr]
                for target in filter(None, targets):
                    assert target in backend.stored, f"tree {oid} points at missing {target}"
