"""The in-memory object cache keeps small objects, not the chunks of a large file read once."""

from __future__ import annotations

import os

import pytest

from storage.backends.memory import MemoryBackend
from storage.errors import ObjectNotFound
from storage.store import ObjectStore
from tests.storage.helpers import SMALL_CHUNKS, SMALL_PACK


def _store() -> tuple[ObjectStore, MemoryBackend]:
    backend = MemoryBackend()
    return ObjectStore.init(backend, chunking=SMALL_CHUNKS, pack_size=SMALL_PACK), backend


def test_a_large_files_chunks_are_not_kept_after_a_read() -> None:
    store, backend = _store()
    data = os.urandom(40 * SMALL_CHUNKS.max_size)
    with store.writer() as w:
        entry = w.put_bytes(data, "big.bin")
    assert len(entry.refs) > 1 or entry.index
    assert b"".join(store.iter_content(entry, cache=False)) == data
    # Had the read kept the chunks in memory, this second read would not need the backend.
    oids = {r.oid for r in store.iter_refs(entry)}
    for oid in oids:
        backend.delete(oid)
    with pytest.raises(ObjectNotFound):
        b"".join(store.iter_content(entry))


def test_a_small_object_is_still_kept() -> None:
    store, backend = _store()
    with store.writer() as w:
        entry = w.put_bytes(b"a small file", "small.txt")
    assert len(entry.refs) == 1
    assert store.read_bytes(entry) == b"a small file"
    backend.delete(entry.refs[0].oid)
    # From memory: a pack of small files is read again and again.
    assert store.read_bytes(entry) == b"a small file"
