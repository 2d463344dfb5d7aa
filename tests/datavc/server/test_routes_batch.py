"""The batch routes: a directory up and down in one request each, over a real server.

One server for the module (a fresh repo per test). Checks the bytes, the single commit,
that a cut or malformed upload commits nothing and leaves no open commit, that the
server computes ids itself, and the roles (reader cannot put, exit 10 with the role named).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from datavc import batch, errors
from datavc.cli import main
from tests.datavc.server.conftest import Server, serve_new_store


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_new_store(tmp_path_factory, "batch")


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_directory_put_and_get_each_one_request(srv: Server, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = {f"d{i % 7}/f{i}.txt": os.urandom(i * 37) for i in range(200)}
    files["big/blob.bin"] = os.urandom(3 * 1024 * 1024 + 5)
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    (src / "link").symlink_to(src / "big" / "blob.bin")  # links are skipped, as a direct put does
    remote = srv.client(srv.admin_token)
    remote.create_repo("up")
    remote.put_file("up", "main", "/readme", b"r")
    before = len(list(remote.log("up")))
    skipped: list[str] = []
    info = remote.put_file("up", "main", "/data", src, on_skip=lambda p, why: skipped.append(p))
    assert info.file_count == len(files) + 1 and skipped == [str(src / "link")]
    assert len(list(remote.log("up"))) == before + 1
    assert srv.direct.get_file("up", "main", "/data/big/blob.bin") == files["big/blob.bin"]
    out = tmp_path / "out"
    assert remote.get_to_path("up", "main", "/data", out) == len(files)
    assert _tree(out) == files
    # into an open commit, merged with what is there
    open_c = remote.start_commit("up", "main")
    (src / "d0" / "f0.txt").write_bytes(b"changed")
    remote.put_file("up", "main", "/data", src, commit=open_c.id)
    remote.finish_commit("up", open_c.id)
    assert remote.get_file("up", "main", "/data/d0/f0.txt") == b"changed"


def _raw_put(srv: Server, repo: str, body: object) -> httpx.Response:
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {srv.admin_token}"}) as h:
        return h.put(f"/api/v1/repos/{repo}/branches/main/batch", params={"path": "/x"}, content=body)  # type: ignore[arg-type]


def test_cut_or_malformed_uploads_commit_nothing(srv: Server) -> None:
    srv.direct.create_repo("cut")
    head = srv.direct.put_file("cut", "main", "/f", b"1").id
    whole = b"".join(batch.iter_batch([("a", 5, [b"hello"]), ("b", 3, [b"bye"])]))
    for body in (whole[:-4], whole[:20], b"not a batch at all", whole + b"trailing"):
        resp = _raw_put(srv, "cut", body)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["category"] == "invalid argument"
    resp = _raw_put(srv, "cut", b"".join(batch.iter_batch([("../up", 1, [b"x"])])))
    assert resp.status_code == 400 and "'..'" in resp.json()["error"]["message"]
    assert srv.direct.inspect_branch("cut", "main").head == head
    assert srv.direct.list_open_commits("cut") == []
    assert _raw_put(srv, "cut", whole).status_code == 200
    assert srv.direct.get_file("cut", "main", "/x/b") == b"bye"


def test_a_cut_single_file_put_leaves_no_open_commit(srv: Server) -> None:
    srv.direct.create_repo("single")
    head = srv.direct.put_file("single", "main", "/f", b"1").id
    remote = srv.client(srv.admin_token)

    def pieces() -> Iterator[bytes]:
        yield b"x" * 1024 * 1024
        raise OSError("the client's disk failed")

    with pytest.raises(OSError, match="disk failed"):
        remote._put(remote._repo("single") + "/branches/main/files/big", {}, pieces())
    assert srv.direct.list_open_commits("single") == []
    assert [c.id for c in srv.direct.log("single")] == [head]


def test_a_reader_cannot_put_a_directory_and_is_told_which_role(
    srv: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv.direct.create_repo("ro")
    srv.direct.put_file("ro", "main", "/keep/a", b"a")
    token = srv.user("viewer")
    srv.client(srv.admin_token).grant_role("ro", "viewer", "reader")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"f")
    with pytest.raises(errors.Forbidden, match="needs role 'writer' on repo 'ro'"):
        srv.client(token).put_file("ro", "main", "/new", tmp_path / "src")
    monkeypatch.setenv("DATAVC_SERVER", srv.url)
    monkeypatch.setenv("DATAVC_TOKEN", token)
    result = CliRunner().invoke(main, ["put", "ro@main:/new", str(tmp_path / "src")])
    assert result.exit_code == 10 and result.stderr.startswith("error: "), result.stderr
    assert "needs role 'writer' on repo 'ro'" in result.stderr and token not in result.stderr
    result = CliRunner().invoke(main, ["get", "ro@main:/keep", "-o", str(tmp_path / "got")])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "got" / "a").read_bytes() == b"a"
