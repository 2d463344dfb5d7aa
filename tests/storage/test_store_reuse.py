"""ObjectStore.iter_content_reusing: an updated file rebuilt from its old local copy plus fetched chunks."""

from __future__ import annotations

import random
from pathlib import Path
from typing import NamedTuple

import pytest

from storage.backends.memory import MemoryBackend
from storage.errors import CorruptObject
from storage.model import Entry
from storage.store import ObjectStore
from tests.storage.helpers import SMALL_CHUNKS, SMALL_PACK


class _Counting(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    def get(self, oid: str) -> bytes:
        self.gets += 1
        return super().get(oid)


class _Versions(NamedTuple):
    store: ObjectStore
    backend: _Counting
    old: Entry
    new: Entry
    new_bytes: bytes
    local: Path


@pytest.fixture
def versions(tmp_path: Path) -> _Versions:
    backend = _Counting()
    store = ObjectStore.init(backend, chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)
    old = random.Random(1).randbytes(1024 * 1024)
    new = old[:500_000] + b"an edit in the middle" + old[500_000:]
    with store.writer() as w:
        e_old = w.put_bytes(old, "f")
        e_new = w.put_bytes(new, "f")
    local = tmp_path / "f"
    local.write_bytes(old)
    store._cache.clear()
    backend.gets = 0
    return _Versions(store, backend, e_old, e_new, new, local)


def test_only_the_changed_chunks_are_fetched(versions: _Versions) -> None:
    store, backend, e_old, e_new, new, local = versions
    assert b"".join(store.iter_content_reusing(e_new, e_old, local)) == new
    assert 0 < backend.gets <= 4 < len(e_new.refs)


def test_a_local_copy_that_changed_is_not_trusted(versions: _Versions) -> None:
    store, _backend, e_old, e_new, new, local = versions
    damaged = bytearray(local.read_bytes())
    damaged[10] ^= 0xFF  # a whole-object chunk: refetched
    local.write_bytes(bytes(damaged))
    assert b"".join(store.iter_content_reusing(e_new, e_old, local)) == new
    # A copy that is short or unrelated: the result never passes for the file.
    local.write_bytes(b"\0" * 1000)
    got = b""
    try:
        got = b"".join(store.iter_content_reusing(e_new, e_old, local))
    except CorruptObject:
        got = new
    assert got == new
