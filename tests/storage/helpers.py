"""Helpers shared by the storage tests."""

from __future__ import annotations

from storage.backends.base import Backend
from storage.backends.local import LocalBackend
from storage.backends.memory import MemoryBackend
from storage.cache import CachedBackend
from storage.chunking import ChunkParams

#: Small sizes so tests exercise many chunks and packs with little data.
SMALL_CHUNKS = ChunkParams(min_size=4 * 1024, avg_size=16 * 1024, max_size=64 * 1024)
SMALL_PACK = 64 * 1024


def corrupt_object(backend: Backend, oid: str) -> None:
    """Flip one byte of a stored object behind the store's back, in whatever backend holds it.

    Behind a read-through cache the remote copy is corrupted and the cached copy dropped,
    as if the cache had never fetched it.
    """
    if isinstance(backend, CachedBackend):
        corrupt_object(backend.remote, oid)
        backend.cache_path(oid).unlink(missing_ok=True)
        return
    data = bytearray(backend.get(oid))
    data[len(data) // 2] ^= 0xFF
    if isinstance(backend, MemoryBackend):
        backend.corrupt(oid, bytes(data))
    elif isinstance(backend, LocalBackend):
        path = backend.object_path(oid)
        path.chmod(0o644)
        path.write_bytes(bytes(data))
    else:
        from storage.backends.s3 import S3Backend

        assert isinstance(backend, S3Backend)
        backend.raw_client.put_object(Bucket=backend.bucket, Key=backend.object_key(oid), Body=bytes(data))
