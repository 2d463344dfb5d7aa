"""Parallel transfers of large files (``datavc/transfer.py``) through a real server.

One server for the module; "large" is lowered to 64 KiB so small files exercise the
parallel paths (ranged parts of 24 KiB, several per file).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc import batch, errors, transfer
from datavc.remote import RemoteClient
from tests.datavc.server.conftest import Server, serve_new_store

KiB = 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_new_store(tmp_path_factory, "transfer")


@pytest.fixture
def rc(srv: Server, monkeypatch: pytest.MonkeyPatch) -> RemoteClient:
    monkeypatch.setattr(transfer, "LARGE", 64 * KiB)
    monkeypatch.setattr(transfer, "PART", 24 * KiB)
    monkeypatch.setattr(transfer, "PUT_WINDOW", 2)
    return srv.client(srv.admin_token)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_directory_with_large_files_round_trips_as_one_commit(rc: RemoteClient, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "big1.bin").write_bytes(os.urandom(200 * KiB + 7))
    (src / "deep" / "er" / "big2.bin").write_bytes(os.urandom(64 * KiB))  # exactly "large"
    (src / "deep" / "small.txt").write_bytes(b"small")
    (src / "empty").write_bytes(b"")
    rc.create_repo("round")
    seen: list[int] = []
    info = rc.put_file("round", "main", "/data", src, message="up", progress=seen.append)
    assert info.message == "up" and info.state == "finished"
    assert len(list(rc.log("round"))) == 1  # one commit for every upload
    assert sum(seen) == sum(len(b) for b in _tree(src).values())
    assert rc.list_open_commits("round") == []

    out = tmp_path / "out"
    got: list[int] = []
    assert rc.get_to_path("round", "main", "/data", out, progress=got.append) == 4
    assert _tree(out) == _tree(src)
    assert sum(got) == sum(len(b) for b in _tree(src).values())
    assert not [p for p in out.rglob(".datavc-*")]  # no temp file left

    one = tmp_path / "one.bin"
    assert rc.get_to_path("round", "main", "/data/big1.bin", one) == 1
    assert one.read_bytes() == (src / "big1.bin").read_bytes()

    # The batch GET leaves out files above max_size (the parallel get fetches those itself).
    pieces = rc.iter_batch("round", "main", "/data", max_size=64 * KiB - 1)
    names = [m[0] for m in batch.members(batch.piece_reader(pieces))]
    assert names == ["deep/small.txt", "empty"]


def test_into_an_open_commit_and_a_failed_upload_leaves_nothing_open(
    rc: RemoteClient, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(100 * KiB))
    (src / "a.txt").write_bytes(b"a")
    rc.create_repo("open")
    cid = rc.start_commit("open", "main", "mine").id
    assert rc.put_file("open", "main", "/", src, commit=cid).id == cid
    assert rc.inspect_commit("open", cid).state == "open"  # left for its owner to finish
    done = rc.finish_commit("open", cid)
    assert {f.path for f in rc.walk_files("open", done.id)} == {"/big.bin", "/a.txt"}

    with pytest.raises(errors.NotFound):
        rc.put_file("open", "no-such-branch", "/", src)
    assert rc.list_open_commits("open") == []


def test_a_short_ranged_answer_is_an_error_and_leaves_no_file(
    rc: RemoteClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rc.create_repo("short")
    rc.put_file("short", "main", "/big.bin", os.urandom(100 * KiB))
    info = rc.inspect_file("short", "main", "/big.bin")
    # As if the server stopped early: every part is asked one byte longer than it gets.
    real = transfer._fetch_range

    def cut(rc_: RemoteClient, repo: str, f: object, tmp: Path, start: int, length: int, tick: object) -> int:
        return real(rc_, repo, info._replace(size=info.size + 1), tmp, start, length + 1, None)  # type: ignore[arg-type]

    monkeypatch.setattr(transfer, "_fetch_range", cut)
    with pytest.raises(errors.BackendUnavailable, match=r"stopped early|more of"):
        rc.get_to_path("short", "main", "/big.bin", tmp_path / "x.bin")
    assert list(tmp_path.iterdir()) == []
