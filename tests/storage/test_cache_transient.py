"""CachedBackend.get_transient: a working-copy read does not leave a second copy of large chunks."""

from __future__ import annotations

import os
from pathlib import Path

from storage.backends.memory import MemoryBackend
from storage.cache import CACHE_ON_PUT_LIMIT, CachedBackend
from storage.hashing import HashAlgorithm

XXH = HashAlgorithm("xxh3-128")


def _put(remote: MemoryBackend, data: bytes) -> str:
    oid = XXH.digest(data)
    remote.put(oid, data)
    return oid


def test_large_objects_are_not_cached_small_ones_are(tmp_path: Path) -> None:
    remote = MemoryBackend()
    cache = CachedBackend(remote, tmp_path / "c", XXH)
    big = _put(remote, os.urandom(CACHE_ON_PUT_LIMIT + 1))
    small = _put(remote, b"a tree page")
    assert XXH.digest(cache.get_transient(big)) == big
    assert XXH.digest(cache.get_transient(small)) == small
    assert not cache.cache_path(big).exists()
    assert cache.cache_path(small).exists()


def test_a_cached_copy_is_used_and_a_corrupt_one_dropped(tmp_path: Path) -> None:
    remote = MemoryBackend()
    cache = CachedBackend(remote, tmp_path / "c", XXH)
    data = os.urandom(CACHE_ON_PUT_LIMIT * 2)
    oid = _put(remote, data)
    cache.get(oid)  # an ordinary read caches it
    remote.delete(oid)
    assert cache.get_transient(oid) == data  # served from the cache
    path = cache.cache_path(oid)
    path.write_bytes(b"garbage")
    remote.put(oid, data)
    assert cache.get_transient(oid) == data  # the bad copy is dropped, the remote read
