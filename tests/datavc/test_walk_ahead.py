"""``datavc.walk_ahead``: a remote directory put sends while it walks, over a real server.

Small thresholds (``PEEK``, ``transfer.LARGE``) keep the data small; the paths are the
real ones: a long walk of small files goes as one batch stream sent while walking; a large
file found late cuts that stream (nothing committed by it) and the put starts over with
the large file on its own request; a walk that fails mid-stream commits nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc import batch, errors, transfer, walk_ahead
from datavc.client import Client
from tests.datavc.server.conftest import Server, serve_new_store


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_new_store(tmp_path_factory, "walk")


@pytest.fixture(autouse=True)
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walk_ahead, "PEEK", 10)
    monkeypatch.setattr(walk_ahead, "_BLOCK", 4)
    monkeypatch.setattr(transfer, "LARGE", 64 * 1024)


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _read(c: Client, repo: str, path: str) -> dict[str, bytes]:
    got = batch.members(batch.piece_reader(c.iter_batch(repo, "main", path)))
    return {p: f.read() for p, _, f in got}


@pytest.mark.parametrize("large_at", [None, "d0/a", "z/late.bin"])
def test_a_long_walk_is_sent_while_walking_and_one_commit_made(
    srv: Server, tmp_path: Path, large_at: str | None
) -> None:
    files = {f"d{i % 5}/f{i:03d}": os.urandom(100 + i) for i in range(60)}
    if large_at is not None:  # first in the walk (decided before sending) or last (the stream is cut)
        files[large_at] = os.urandom(200 * 1024)
    src = _write(tmp_path / "src", files)
    remote = srv.client(srv.admin_token)
    repo = f"w{len(files)}{(large_at or 'none').replace('/', '').replace('.', '')}"
    remote.create_repo(repo)
    remote.put_file(repo, "main", "/keep", b"k")
    before = len(list(remote.log(repo)))
    info = remote.put_file(repo, "main", "/data", src)
    assert info.file_count == len(files) + 1
    assert len(list(remote.log(repo))) == before + 1  # a cut stream made no commit of its own
    assert remote.list_open_commits(repo) == []
    assert _read(srv.direct, repo, "/data") == files


def test_a_walk_failing_mid_stream_commits_nothing(srv: Server, tmp_path: Path) -> None:
    files = {f"f{i:03d}": os.urandom(50) for i in range(30)}
    src = _write(tmp_path / "src", files)
    remote = srv.client(srv.admin_token)
    remote.create_repo("broken")
    head = remote.put_file("broken", "main", "/keep", b"k").id

    def walk() -> Iterator[tuple[str, str, int]]:
        for i, row in enumerate(batch.local_files(src)):
            if i == 20:
                raise errors.InvalidArgument(f"cannot read directory {src}/gone: Permission denied")
            yield row

    with pytest.raises(errors.InvalidArgument, match="cannot read directory"):
        walk_ahead.put_dir(remote, "broken", "main", "data", walk(), "put", None, None)
    assert remote.inspect_branch("broken", "main").head == head
    assert remote.list_open_commits("broken") == []
