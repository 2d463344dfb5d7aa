"""Working-copy updates that fetch little: a changed large file is rebuilt from its local copy,
and a checkout from S3 writes several files at once (directories made concurrently)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from datavc.client import Client


def _count_gets(client: Client) -> list[str]:
    """Record every object the backend is asked for from now on."""
    backend = client._ctx.raw_store.backend
    seen: list[str] = []
    original: Callable[[str], bytes] = backend.get

    def get(oid: str) -> bytes:
        seen.append(oid)
        return original(oid)

    backend.get = get  # type: ignore[method-assign]
    client._ctx.raw_store._cache.clear()
    return seen


@pytest.fixture
def big_versions(tmp_path: Path) -> tuple[Client, Path, bytes, bytes]:
    c = Client.init(tmp_path / "store")
    c.create_repo("b")
    v1 = random.Random(3).randbytes(32 * 1024 * 1024)  # several 4 MiB chunks
    v2 = v1 + b"appended"
    c.put_file("b", "main", "/big.bin", v1)
    c.create_tag("b", "main", "v1")
    c.put_file("b", "main", "/big.bin", v2)
    co = tmp_path / "co"
    c.checkout("b", "main", co)
    return c, co, v1, v2


def test_rollback_of_a_changed_large_file_fetches_only_changed_chunks(
    big_versions: tuple[Client, Path, bytes, bytes],
) -> None:
    c, co, v1, _v2 = big_versions
    chunks = len(c._ctx.store.get_entry(c.inspect_commit("b", "v1").tree, "big.bin").refs)  # type: ignore[union-attr]
    seen = _count_gets(c)
    info = c.checkout("b", "v1", co)
    assert info.files_written == 1
    assert (co / "big.bin").read_bytes() == v1
    data_gets = [o for o in seen if not c._ctx.raw_store.is_tree(o)]
    assert chunks > 4
    assert len(data_gets) <= 2
    c.close()


def test_rollback_of_an_append_truncates_in_place_after_checking_the_kept_bytes(
    big_versions: tuple[Client, Path, bytes, bytes],
) -> None:
    c, co, v1, _v2 = big_versions
    path = co / "big.bin"
    inode = os.stat(path).st_ino
    seen = _count_gets(c)
    info = c.checkout("b", "v1", co)
    assert info.files_written == 1
    assert os.stat(path).st_ino == inode  # cut short where it was, not rewritten
    assert path.read_bytes() == v1
    assert [o for o in seen if not c._ctx.raw_store.is_tree(o)] == []  # nothing fetched
    assert c.status(co).clean
    c.close()


def test_a_file_with_another_link_is_rewritten_not_truncated(
    big_versions: tuple[Client, Path, bytes, bytes], tmp_path: Path
) -> None:
    c, co, v1, v2 = big_versions
    other = tmp_path / "other-link.bin"
    os.link(co / "big.bin", other)
    c.checkout("b", "v1", co)
    assert (co / "big.bin").read_bytes() == v1
    assert other.read_bytes() == v2  # the user's other name for the file is left alone
    c.close()


def test_a_local_file_changed_behind_the_index_is_not_used(
    big_versions: tuple[Client, Path, bytes, bytes],
) -> None:
    c, co, v1, v2 = big_versions
    path = co / "big.bin"
    st = os.stat(path)
    damaged = bytearray(v2)
    damaged[5_000_000] ^= 0xFF
    path.write_bytes(bytes(damaged))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: the index is fooled
    c.checkout("b", "v1", co, force=True)
    assert path.read_bytes() == v1
    c.checkout("b", "main", co)
    assert path.read_bytes() == v2
    c.close()


def test_checkout_and_get_from_s3_write_many_files_at_once(tmp_path: Path, s3_url: str) -> None:
    c = Client.init(tmp_path / "store", objects=s3_url)
    c.create_repo("r")
    src = tmp_path / "src"
    rnd = random.Random(5)
    want: dict[str, bytes] = {}
    for i in range(40):
        rel = f"d{i % 3}/e{i % 5}/f{i}.bin"
        want[rel] = rnd.randbytes(rnd.randrange(1, 300_000))
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(want[rel])
    c.put_file("r", "main", "/", src)
    assert c._ctx.store.read_window > 1
    co, out = tmp_path / "co", tmp_path / "out"
    assert c.checkout("r", "main", co).files_written == len(want)
    assert c.get_to_path("r", "main", "/", out) == len(want)
    for rel, data in want.items():
        assert (co / rel).read_bytes() == data
        assert (out / rel).read_bytes() == data
    assert c.status(co).clean
    c.close()
