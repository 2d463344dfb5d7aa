"""New stores cut 4 MiB chunks (fewer requests per GiB); stores made before keep their recorded sizes."""

from __future__ import annotations

import io
import random
from pathlib import Path

from storage.backends.memory import MemoryBackend
from storage.chunking import DEFAULT_PARAMS, LEGACY_PARAMS, SMALL_FILE_LIMIT, MiB
from storage.prefetch import REMOTE_WINDOW, read_window
from storage.store import ObjectStore


def _data(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


def test_a_new_store_records_4_mib_chunks_and_cuts_few_objects() -> None:
    store = ObjectStore.init(MemoryBackend())
    assert store.config.chunking == DEFAULT_PARAMS
    assert (DEFAULT_PARAMS.min_size, DEFAULT_PARAMS.avg_size, DEFAULT_PARAMS.max_size) == (
        2 * MiB,
        4 * MiB,
        16 * MiB,
    )
    data = _data(24 * MiB)
    with store.writer() as w:
        entry = w.put_stream(io.BytesIO(data), "big")
    # 1 MiB chunks would need ~24 objects (24 GETs to read it back); 4 MiB ones about 6.
    assert 2 <= len(entry.refs) <= 12
    assert store.read_bytes(entry) == data


def test_an_existing_store_keeps_its_recorded_sizes_and_dedups() -> None:
    backend = MemoryBackend()
    old = ObjectStore.init(backend, chunking=LEGACY_PARAMS)
    data = _data(12 * MiB, seed=3)
    with old.writer() as w:
        first = w.put_stream(io.BytesIO(data), "f")
    for reopened in (ObjectStore.open(backend), ObjectStore.init(backend)):
        assert reopened.config.chunking == LEGACY_PARAMS
        with reopened.writer() as w:
            again = w.put_stream(io.BytesIO(data), "f")
        assert again.refs == first.refs
        assert w.stats.objects_written == 0


def test_files_between_the_small_limit_and_min_size_are_chunked_not_packed(tmp_path: Path) -> None:
    store = ObjectStore.init(MemoryBackend())
    small = _data(SMALL_FILE_LIMIT - 1, seed=6)
    mid = _data(1 * MiB, seed=5)  # below the new 2 MiB min_size, above the 512 KiB small limit
    (tmp_path / "a-small").write_bytes(small)
    (tmp_path / "b-mid").write_bytes(mid)
    with store.writer() as w:
        entries = dict(w.iter_put_dir(tmp_path))
    e_small, e_mid = entries["a-small"], entries["b-mid"]
    assert store.read_bytes(e_small) == small
    assert len(e_mid.refs) == 1
    ref = e_mid.refs[0]
    assert (ref.offset, ref.length) == (0, len(mid))
    assert ref.oid == store.algorithm.digest(mid)  # its own object, not a slice of a pack
    assert store.read_bytes(e_mid) == mid


def test_the_read_window_is_bounded_in_bytes() -> None:
    assert read_window(LEGACY_PARAMS) == REMOTE_WINDOW
    assert read_window(DEFAULT_PARAMS) == 8
    assert read_window(DEFAULT_PARAMS) * DEFAULT_PARAMS.avg_size <= 32 * MiB
