"""CachedBackend: read-through, write-through, verification of cached copies, LRU eviction."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from storage.backends.base import Backend
from storage.backends.memory import MemoryBackend
from storage.backends.s3 import S3Backend
from storage.cache import CachedBackend
from storage.errors import CorruptObject, InvalidInput, ObjectNotFound
from storage.hashing import HashAlgorithm

XXH = HashAlgorithm("xxh3-128")


class CountingBackend(Backend):
    """A MemoryBackend that counts calls, to see which ones reach the remote."""

    def __init__(self) -> None:
        self.inner = MemoryBackend()
        self.url = "counting://"
        self.cheap_exists = False
        self.calls: Counter[str] = Counter()

    def put(self, oid: str, data: bytes | memoryview) -> None:
        self.calls["put"] += 1
        self.inner.put(oid, data)

    def get(self, oid: str) -> bytes:
        self.calls["get"] += 1
        return self.inner.get(oid)

    def exists(self, oid: str) -> bool:
        self.calls["exists"] += 1
        return self.inner.exists(oid)

    def delete(self, oid: str) -> None:
        self.calls["delete"] += 1
        self.inner.delete(oid)

    def iter_ids(self) -> Iterator[str]:
        self.calls["iter_ids"] += 1
        return self.inner.iter_ids()

    def iter_stat(self) -> Iterator[tuple[str, float, int]]:
        self.calls["iter_stat"] += 1
        return self.inner.iter_stat()

    def mtime(self, oid: str) -> float | None:
        self.calls["mtime"] += 1
        return self.inner.mtime(oid)

    def touch(self, oid: str) -> None:
        self.calls["touch"] += 1
        self.inner.touch(oid)

    def read_meta(self, name: str) -> bytes | None:
        return self.inner.read_meta(name)

    def write_meta(self, name: str, data: bytes) -> None:
        self.inner.write_meta(name, data)


@pytest.fixture
def remote() -> CountingBackend:
    return CountingBackend()


@pytest.fixture
def cache(remote: CountingBackend, tmp_path: Path) -> CachedBackend:
    return CachedBackend(remote, tmp_path / "cache", XXH)


def _blob(i: int, size: int = 1000) -> tuple[str, bytes]:
    data = (f"{i:08d}" * (size // 8 + 1)).encode()[:size]
    return XXH.digest(data), data


def _cached_files(root: Path) -> list[Path]:
    return [p for p in (root / "objects").rglob("*") if p.is_file()]


def test_hit_after_miss_avoids_the_remote(
    remote: CountingBackend, cache: CachedBackend, tmp_path: Path
) -> None:
    oid, data = _blob(1)
    remote.put(oid, data)
    assert cache.get(oid) == data
    assert cache.get(oid) == data
    assert remote.calls["get"] == 1
    assert cache.cache_path(oid).read_bytes() == data
    # The cache outlives the process: a new CachedBackend on the same directory hits too.
    again = CachedBackend(remote, tmp_path / "cache", XXH)
    assert again.get(oid) == data
    assert remote.calls["get"] == 1


def test_put_writes_through(remote: CountingBackend, cache: CachedBackend) -> None:
    oid, data = _blob(2)
    cache.put(oid, memoryview(data))
    assert remote.inner.get(oid) == data
    assert cache.get(oid) == data
    assert remote.calls["get"] == 0


def test_corrupt_cached_copy_is_dropped_and_refetched(remote: CountingBackend, cache: CachedBackend) -> None:
    oid, data = _blob(3)
    cache.put(oid, data)
    path = cache.cache_path(oid)
    for bad in (b"garbage", data[:-1], b""):
        path.write_bytes(bad)
        before = remote.calls["get"]
        assert cache.get(oid) == data
        assert remote.calls["get"] == before + 1
        assert path.read_bytes() == data  # repaired


def test_corrupt_cached_copy_is_never_returned(remote: CountingBackend, cache: CachedBackend) -> None:
    oid, data = _blob(4)
    cache.put(oid, data)
    remote.inner.delete(oid)
    cache.cache_path(oid).write_bytes(b"bit rot")
    with pytest.raises(ObjectNotFound):
        cache.get(oid)
    assert not cache.cache_path(oid).exists()


def test_corrupt_remote_copy_is_not_cached(remote: CountingBackend, cache: CachedBackend) -> None:
    oid, data = _blob(5)
    remote.inner.put(oid, data)
    remote.inner.corrupt(oid, b"tampered")
    with pytest.raises(CorruptObject) as info:
        cache.get(oid)
    assert info.value.oid == oid
    assert info.value.actual == XXH.digest(b"tampered")
    assert oid in str(info.value) and "counting://" in str(info.value)
    assert not cache.cache_path(oid).exists()
    assert _cached_files(cache.cache_dir) == []


def test_missing_object_is_not_cached(cache: CachedBackend) -> None:
    oid, _ = _blob(6)
    with pytest.raises(ObjectNotFound):
        cache.get(oid)
    assert _cached_files(cache.cache_dir) == []


def test_exists_and_delete(remote: CountingBackend, cache: CachedBackend) -> None:
    oid, data = _blob(7)
    other, other_data = _blob(8)
    cache.put(oid, data)
    remote.put(other, other_data)
    assert cache.exists(oid)
    assert remote.calls["exists"] == 0  # answered by the cache
    assert cache.exists(other)
    assert remote.calls["exists"] == 1
    cache.delete(oid)
    assert not cache.cache_path(oid).exists()
    assert not remote.inner.exists(oid)
    assert not cache.exists(oid)
    cache.delete(oid)  # idempotent


def test_everything_else_goes_to_the_remote(remote: CountingBackend, cache: CachedBackend) -> None:
    assert cache.url == remote.url
    assert cache.cheap_exists is False
    assert CachedBackend(MemoryBackend(), cache.cache_dir, XXH).cheap_exists is True
    oid, data = _blob(9)
    cache.put(oid, data)
    assert list(cache.iter_ids()) == [oid]
    cache.write_meta("config", b"{}")
    assert remote.inner.read_meta("config") == b"{}"
    assert cache.read_meta("config") == b"{}"


def test_negative_cap_is_refused(remote: CountingBackend, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        CachedBackend(remote, tmp_path, XXH, max_bytes=-1)


def test_eviction_keeps_the_cache_under_the_cap(remote: CountingBackend, tmp_path: Path) -> None:
    cache = CachedBackend(remote, tmp_path / "cache", XXH, max_bytes=10_000)
    blobs = [_blob(i) for i in range(50)]
    for oid, data in blobs:
        cache.put(oid, data)
        assert sum(p.stat().st_size for p in _cached_files(cache.cache_dir)) <= 10_000
    for oid, data in blobs:  # evicted copies are fetched again
        assert cache.get(oid) == data
    assert sum(p.stat().st_size for p in _cached_files(cache.cache_dir)) <= 10_000


def test_eviction_removes_least_recently_used(remote: CountingBackend, tmp_path: Path) -> None:
    cache = CachedBackend(remote, tmp_path / "cache", XXH, max_bytes=10_000)
    blobs = [_blob(i) for i in range(9)]
    for oid, data in blobs:
        cache.put(oid, data)
    # Give the copies distinct ages, oldest first, then use the oldest one.
    for age, (oid, _) in enumerate(blobs):
        t = 1_000_000 + age
        os.utime(cache.cache_path(oid), (t, t))
    assert cache.get(blobs[0][0]) == blobs[0][1]
    assert remote.calls["get"] == 0
    for i in (100, 101):
        cache.put(*_blob(i))
    cached = {p.name for p in _cached_files(cache.cache_dir)}
    assert blobs[0][0] in cached  # recently read
    assert blobs[1][0] not in cached and blobs[2][0] not in cached  # least recently used
    assert {_blob(100)[0], _blob(101)[0]} <= cached
    assert sum(p.stat().st_size for p in _cached_files(cache.cache_dir)) <= 10_000


def test_object_larger_than_the_cap_is_not_cached(remote: CountingBackend, tmp_path: Path) -> None:
    cache = CachedBackend(remote, tmp_path / "cache", XXH, max_bytes=500)
    oid, data = _blob(1, size=1000)
    cache.put(oid, data)
    assert cache.get(oid) == data
    assert _cached_files(cache.cache_dir) == []


def test_concurrent_reads_and_writes(remote: CountingBackend, tmp_path: Path) -> None:
    cache = CachedBackend(remote, tmp_path / "cache", XXH, max_bytes=20_000)
    blobs = [_blob(i) for i in range(200)]
    for oid, data in blobs[::2]:
        remote.put(oid, data)

    def work(i: int) -> bool:
        oid, data = blobs[i]
        if i % 2:
            cache.put(oid, data)
        return cache.get(oid) == data and cache.get(blobs[(i * 7) % 200 // 2 * 2][0]) is not None

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(200)))
    for oid, data in blobs:
        assert cache.get(oid) == data
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_in_front_of_s3(s3_url: str, tmp_path: Path) -> None:
    s3 = S3Backend(s3_url)
    cache = CachedBackend(s3, tmp_path / "cache", XXH)
    oid, data = _blob(1)
    s3.put(oid, data)
    assert cache.get(oid) == data
    # Gone from the bucket, still served from the cache: the second read never reached S3.
    s3.raw_client.delete_object(Bucket=s3.bucket, Key=s3.object_key(oid))
    assert cache.get(oid) == data
    cache.close()
