"""The contract every backend keeps: one suite, run on memory, local directory and S3."""

from __future__ import annotations

import pytest

from storage.backends.base import Backend
from storage.errors import ObjectNotFound

A = "0" * 31 + "a"
B = "0" * 31 + "b"


def test_put_get_exists(backend: Backend) -> None:
    assert not backend.exists(A)
    backend.put(A, b"alpha")
    assert backend.exists(A)
    assert backend.get(A) == b"alpha"


def test_put_accepts_memoryview(backend: Backend) -> None:
    backend.put(A, memoryview(b"xalphax")[1:6])
    assert backend.get(A) == b"alpha"


def test_put_twice_is_harmless(backend: Backend) -> None:
    backend.put(A, b"alpha")
    backend.put(A, b"alpha")
    assert backend.get(A) == b"alpha"
    assert sorted(backend.iter_ids()) == [A]


def test_get_missing_raises_not_found(backend: Backend) -> None:
    with pytest.raises(ObjectNotFound) as info:
        backend.get(B)
    assert info.value.oid == B


def test_delete_is_idempotent(backend: Backend) -> None:
    backend.put(A, b"alpha")
    backend.delete(A)
    backend.delete(A)
    assert not backend.exists(A)
    with pytest.raises(ObjectNotFound):
        backend.get(A)


def test_iter_ids_lists_every_object(backend: Backend) -> None:
    ids = {f"{i:032x}" for i in range(1, 40)}
    for oid in ids:
        backend.put(oid, oid.encode())
    assert set(backend.iter_ids()) == ids


def test_empty_object(backend: Backend) -> None:
    backend.put(A, b"")
    assert backend.get(A) == b""


def test_meta_documents(backend: Backend) -> None:
    assert backend.read_meta("config.json") is None
    backend.write_meta("config.json", b"{}")
    backend.write_meta("config.json", b'{"v": 2}')
    assert backend.read_meta("config.json") == b'{"v": 2}'
    assert list(backend.iter_ids()) == []


def test_stat_touch_and_mtime(backend: Backend) -> None:
    import time

    assert backend.mtime(A) is None
    before = time.time() - 5
    backend.put(A, b"alpha")
    backend.put(B, b"beta!")
    stats = {oid: (mtime, size) for oid, mtime, size in backend.iter_stat()}
    assert set(stats) == {A, B}
    assert stats[A][1] == 5 and stats[A][0] >= before
    first = backend.mtime(A)
    assert first is not None
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    backend.touch(A)
    touched = backend.mtime(A)
    assert touched is not None and touched > first
    assert backend.get(A) == b"alpha"
    backend.touch(A * 0 + "f" * 32)  # touching a missing object is harmless
