"""Backends and stores for the storage tests: every contract test runs on memory, local and S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.backends.base import Backend
from storage.backends.local import LocalBackend
from storage.backends.memory import MemoryBackend
from storage.store import ObjectStore
from tests.storage.helpers import SMALL_CHUNKS, SMALL_PACK


@pytest.fixture(params=["memory", "local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty backend of each kind."""
    b: Backend
    if request.param == "memory":
        b = MemoryBackend()
    elif request.param == "local":
        b = LocalBackend(tmp_path / "objects-store")
    else:
        from storage.backends.s3 import S3Backend

        b = S3Backend(request.getfixturevalue("s3_url"))
    yield b
    b.close()


@pytest.fixture
def store(backend: Backend) -> ObjectStore:
    """A fresh store on each backend, with small chunks and packs."""
    return ObjectStore.init(backend, chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)


@pytest.fixture
def mem_store() -> ObjectStore:
    """A store in memory, for tests of structure rather than of backends."""
    return ObjectStore.init(MemoryBackend(), chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)
