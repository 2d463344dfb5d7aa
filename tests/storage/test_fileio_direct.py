"""Direct I/O (``O_DIRECT``) for bytes read or written once: a large file's chunks and a
``get -o`` of it. Whatever the sizes and the file system, the bytes are exact."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from storage import fileio
from storage import writer as writer_module
from storage.backends.local import LocalBackend
from storage.errors import CorruptObject
from storage.fileio import DIRECT_ALIGN, atomic_write, read_direct
from storage.store import ObjectStore
from tests.storage.helpers import SMALL_CHUNKS, SMALL_PACK

MiB = 1024 * 1024
SIZES = [0, 1, DIRECT_ALIGN - 1, DIRECT_ALIGN, DIRECT_ALIGN + 1, 2 * MiB, 2 * MiB + 3, 5_000_017]


def _has_direct(directory: Path) -> bool:
    fd = fileio._open_direct(str(directory / "probe"), os.O_WRONLY | os.O_CREAT) if fileio._O_DIRECT else None
    if fd is None:
        return False
    os.close(fd)
    return True


@pytest.fixture(params=["direct", "no-direct"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Each test runs with direct I/O where this file system has it, and once without."""
    if request.param == "no-direct":
        monkeypatch.setattr(fileio, "_O_DIRECT", 0)
    elif not _has_direct(tmp_path):
        pytest.skip("this file system refuses O_DIRECT: the no-direct run covers the fallback")
    return str(request.param)


def _pieces(total: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    out, left = [], total
    while left:
        n = min(left, rnd.choice([1, 7, 4096, 65_537, 1_000_003, 3 * 1024 * 1024]))
        out.append(rnd.randbytes(n))
        left -= n
    return out


@pytest.mark.parametrize("size", SIZES)
def test_an_uncached_write_and_a_direct_read_hold_the_exact_bytes(
    tmp_path: Path, mode: str, size: int
) -> None:
    data = random.Random(size).randbytes(size)
    target = tmp_path / "obj"
    atomic_write(target, data, cached=False, mode=0o444)
    assert target.stat().st_size == size and target.read_bytes() == data
    assert oct(target.stat().st_mode & 0o777) == oct(0o444)
    got = read_direct(str(target))
    assert got == (None if mode == "no-direct" else data)
    pieces_target = tmp_path / "pieces"
    pieces = _pieces(size, size)
    atomic_write(pieces_target, pieces, cached=False)  # a list of pieces, as a framed upload gives
    assert pieces_target.read_bytes() == b"".join(pieces)


@pytest.mark.parametrize("start", [0, 3 * DIRECT_ALIGN, 5])
def test_a_streamed_file_past_the_offset_holds_the_exact_bytes(tmp_path: Path, mode: str, start: int) -> None:
    """Two aligned buffers written in turn by a second thread; odd pieces straddle them; an
    unaligned offset goes the buffered way."""
    pieces = _pieces(2 * fileio._DIRECT_CHUNK + 12_345, start)
    target = tmp_path / "out.bin"
    atomic_write(target, iter(pieces), fsync=False, drop_after=start)
    assert target.read_bytes() == b"".join(pieces)
    atomic_write(target, iter([b"short"]), drop_after=0)  # smaller than a block: padded, then cut
    assert target.read_bytes() == b"short"


def test_a_failed_stream_leaves_the_target_and_no_temp_file(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"before")

    def pieces() -> object:
        yield os.urandom(fileio._DIRECT_CHUNK + 1)
        raise ValueError("the source broke")

    with pytest.raises(ValueError, match="the source broke"):
        atomic_write(target, pieces(), drop_after=0)  # type: ignore[arg-type]
    assert target.read_bytes() == b"before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"] + (["probe"] if mode == "direct" else [])


def test_a_large_files_chunks_are_read_past_the_cache_and_still_verified(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "COLD_AFTER", 256 * 1024)
    monkeypatch.setattr(fileio, "COLD_AFTER", 256 * 1024)
    backend = LocalBackend(tmp_path / "store")
    colds: list[str] = []
    real = backend.get_cold

    def get_cold(oid: str) -> bytes:
        colds.append(oid)
        return real(oid)

    monkeypatch.setattr(backend, "get_cold", get_cold)
    store = ObjectStore.init(backend, chunking=SMALL_CHUNKS, pack_size=SMALL_PACK)
    data = os.urandom(1024 * 1024 + 333)
    with store.writer() as w:
        entry = w.put_bytes(data, "big.bin")
    assert b"".join(store.iter_content(entry, cache=False)) == data
    refs = list(store.iter_refs(entry))
    assert colds and refs[0].oid not in colds  # the first part is read as usual (it stays cached)
    out = tmp_path / "got.bin"
    atomic_write(out, store.iter_content(entry, cache=False), fsync=False, drop_after=0)
    assert out.read_bytes() == data
    victim = backend.object_path(refs[-1].oid)  # past the threshold: read direct
    victim.chmod(0o644)
    damaged = bytearray(victim.read_bytes())
    damaged[-1] ^= 1
    victim.write_bytes(bytes(damaged))
    store2 = ObjectStore.open(backend)
    with pytest.raises(CorruptObject):
        b"".join(store2.iter_content(entry, cache=False))
