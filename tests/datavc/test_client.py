"""The public API, ``datavc.Client``, on every deployment: SQLite + local objects,
PostgreSQL + local objects and PostgreSQL + S3 (see the ``client`` fixture)."""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datavc.client import Client
from datavc.errors import (
    AlreadyExists,
    AmbiguousRef,
    BranchMoved,
    BranchNotFound,
    CommitFinished,
    Conflict,
    CorruptData,
    DatavcError,
    InvalidArgument,
    NotFound,
    PathNotFound,
    RepoNotFound,
    TagNotFound,
)
from storage.cache import CachedBackend

# ----- helpers -------------------------------------------------------------------------


def ids(client: Client, repo: str, ref: str = "main") -> list[str]:
    return [c.id for c in client.log(repo, ref)]


def files_of(client: Client, repo: str, ref: str = "main") -> dict[str, bytes]:
    """Every file of ``repo@ref`` with its content."""
    return {f.path: client.get_file(repo, ref, f.path) for f in client.walk_files(repo, ref)}


def snapshot_state(client: Client) -> dict[str, Any]:
    """Everything a failed call must leave unchanged: repos, branch heads, tags, logs, files."""
    out: dict[str, Any] = {}
    for r in client.list_repos():
        heads = {b.name: b.head for b in client.list_branches(r.name)}
        out[r.name] = {
            "heads": heads,
            "tags": {t.name: t.commit for t in client.list_tags(r.name)},
            "logs": {b: ids(client, r.name, b) for b, h in heads.items() if h},
            "files": files_of(client, r.name) if heads.get("main") else {},
            "open": [c.id for c in client.list_open_commits(r.name)],
        }
    return out


def assert_fsck_clean(client: Client) -> None:
    report = client.fsck()
    assert report.ok, report


def object_ids(client: Client) -> set[str]:
    return set(client.context.store.backend.iter_ids())


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


# ----- repos ---------------------------------------------------------------------------


def test_repos_create_list_inspect_delete(client: Client) -> None:
    info = client.create_repo("images", description="raw pictures")
    assert (info.name, info.description, info.branches) == ("images", "raw pictures", ("main",))
    assert (info.size, info.file_count, info.commit_count) == (0, 0, 0)
    assert info.created_by == client.context.user
    client.create_repo("a-b_C9")
    assert [r.name for r in client.list_repos()] == ["a-b_C9", "images"]

    with pytest.raises(AlreadyExists):
        client.create_repo("images")
    for bad in ["", "has space", "dot.ted", "slash/x", "x" * 64, "ünï"]:
        with pytest.raises(InvalidArgument):
            client.create_repo(bad)
    client.create_repo("x" * 63)

    client.put_file("images", "main", "/a.bin", b"12345")
    client.put_file("images", "main", "/b.bin", b"678")
    info = client.inspect_repo("images")
    assert (info.size, info.file_count, info.commit_count) == (8, 2, 2)

    # A repo with commits needs force; an empty one does not.
    with pytest.raises(Conflict):
        client.delete_repo("images")
    assert client.inspect_repo("images").commit_count == 2
    client.delete_repo("a-b_C9")
    client.delete_repo("images", force=True)
    assert [r.name for r in client.list_repos()] == ["x" * 63]
    with pytest.raises(RepoNotFound):
        client.inspect_repo("images")
    with pytest.raises(RepoNotFound):
        client.delete_repo("images", force=True)
    # The name is free again and the new repo starts empty.
    assert client.create_repo("images").commit_count == 0
    assert_fsck_clean(client)


# ----- branches, reflog, tags ------------------------------------------------------------


def test_branches_and_reflog(client: Client) -> None:
    client.create_repo("r")
    c1 = client.put_file("r", "main", "/f", b"one", message="first")
    c2 = client.put_file("r", "main", "/f", b"two", message="second")

    dev = client.create_branch("r", "dev", from_ref="main^")
    assert dev.head == c1.id
    assert client.create_branch("r", "tip").head == c2.id  # default: main's head
    assert [b.name for b in client.list_branches("r")] == ["dev", "main", "tip"]
    assert client.inspect_branch("r", "dev").head == c1.id
    assert client.get_file("r", "dev", "/f") == b"one"
    with pytest.raises(AlreadyExists):
        client.create_branch("r", "dev")
    with pytest.raises(InvalidArgument):
        client.create_branch("r", "bad name")
    with pytest.raises(NotFound):
        client.create_branch("r", "x", from_ref="nosuch")

    # A commit on dev does not move main.
    c3 = client.put_file("r", "dev", "/g", b"dev only")
    assert c3.parent == c1.id and c3.branch == "dev"
    assert client.inspect_branch("r", "main").head == c2.id

    reset = client.reset_branch("r", "main", c1.id)
    assert reset.head == c1.id
    assert ids(client, "r") == [c1.id]
    assert client.get_file("r", "main", "/f") == b"one"

    log = client.reflog("r", "main")
    who = client.context.user
    assert [(e.old, e.new) for e in log] == [(c2.id, c1.id), (c1.id, c2.id), (None, c1.id), (None, None)]
    assert all(e.who == who and e.branch == "main" and e.repo == "r" for e in log)
    assert log[0].why.startswith("reset")
    assert log[1].why == "user commit: second"
    assert log[-1].why == "create repo"
    assert [e.at for e in log] == sorted((e.at for e in log), reverse=True)
    assert len(client.reflog("r", "main", limit=2)) == 2
    dev_log = client.reflog("r", "dev")
    assert [(e.old, e.new) for e in dev_log] == [(c1.id, c3.id), (None, c1.id)]
    assert dev_log[-1].why.startswith("create branch")

    client.delete_branch("r", "dev")
    assert [b.name for b in client.list_branches("r")] == ["main", "tip"]
    with pytest.raises(BranchNotFound):
        client.delete_branch("r", "dev")
    with pytest.raises(BranchNotFound):
        client.inspect_branch("r", "dev")
    # The reflog survives the branch, and its commits stay readable by id.
    assert client.reflog("r", "dev")[0].new is None
    assert client.get_file("r", c3.id, "/g") == b"dev only"
    assert_fsck_clean(client)


def test_tags(client: Client) -> None:
    client.create_repo("r")
    c1 = client.put_file("r", "main", "/f", b"v1")
    client.put_file("r", "main", "/f", b"v2")
    tag = client.create_tag("r", "main^", "v1")
    assert (tag.name, tag.commit, tag.created_by) == ("v1", c1.id, client.context.user)
    client.create_tag("r", "main", "v2")
    assert [(t.name, t.commit) for t in client.list_tags("r")] == [("v1", c1.id), ("v2", ids(client, "r")[0])]
    assert client.get_file("r", "v1", "/f") == b"v1"
    assert client.inspect_commit("r", "v2~1").id == c1.id
    with pytest.raises(AlreadyExists):
        client.create_tag("r", "main", "v1")
    with pytest.raises(InvalidArgument):
        client.create_tag("r", "main", "main")  # a branch's name
    with pytest.raises(InvalidArgument):
        client.create_tag("r", "main", "v 1")
    open_c = client.start_commit("r")
    with pytest.raises(Conflict):
        client.create_tag("r", open_c.id, "wip")
    client.abort_commit("r", open_c.id)
    client.delete_tag("r", "v1")
    assert [t.name for t in client.list_tags("r")] == ["v2"]
    with pytest.raises(TagNotFound):
        client.delete_tag("r", "v1")
    with pytest.raises(NotFound):
        client.inspect_commit("r", "v1")


# ----- commits ---------------------------------------------------------------------------


def test_start_finish_abort_and_inspect(client: Client) -> None:
    client.create_repo("r")
    c = client.start_commit("r", "main", message="batch")
    assert (c.state, c.parent, c.branch, c.origin, c.message) == ("open", None, "main", "user", "batch")
    assert c.finished_at is None and c.author == client.context.user
    client.put_file("r", "main", "/a", b"aaaa", commit=c.id)
    client.put_file("r", "main", "/d/b", b"bb", commit=c.id)
    assert [o.id for o in client.list_open_commits("r")] == [c.id]
    # Not visible before finishing.
    assert client.inspect_branch("r", "main").head is None
    with pytest.raises(NotFound):
        client.get_file("r", "main", "/a")
    # Readable through the open commit itself.
    assert client.get_file("r", c.id, "/a") == b"aaaa"

    done = client.finish_commit("r", c.id, message="batch of 2")
    assert (done.state, done.message, done.size, done.file_count) == ("finished", "batch of 2", 6, 2)
    assert done.finished_at is not None and done.finished_at >= done.created_at
    assert client.inspect_branch("r", "main").head == c.id
    assert client.list_open_commits("r") == []
    assert client.inspect_commit("r", "main") == done
    assert done.to_json()["id"] == c.id

    with pytest.raises(CommitFinished):
        client.put_file("r", "main", "/late", b"x", commit=c.id)
    with pytest.raises(Conflict):  # CommitFinished is a Conflict
        client.finish_commit("r", c.id)
    with pytest.raises(Conflict):
        client.abort_commit("r", c.id)

    c2 = client.start_commit("r")
    assert c2.parent == c.id and (c2.size, c2.file_count) == (6, 2)
    client.put_file("r", "main", "/tmp", b"scratch", commit=c2.id)
    client.abort_commit("r", c2.id)
    assert client.inspect_branch("r", "main").head == c.id
    with pytest.raises(NotFound):
        client.inspect_commit("r", c2.id)
    with pytest.raises(NotFound):
        client.finish_commit("r", c2.id)
    assert files_of(client, "r") == {"/a": b"aaaa", "/d/b": b"bb"}
    assert_fsck_clean(client)


def test_finish_after_branch_moved_rebases(client: Client) -> None:
    client.create_repo("r")
    client.put_file("r", "main", "/base", b"0")
    c = client.start_commit("r")
    client.put_file("r", "main", "/mine", b"1", commit=c.id)
    other = client.put_file("r", "main", "/theirs", b"2")
    done = client.finish_commit("r", c.id)
    assert done.parent == other.id
    assert files_of(client, "r") == {"/base": b"0", "/mine": b"1", "/theirs": b"2"}
    assert ids(client, "r") == [c.id, other.id, ids(client, "r")[2]]


def test_log_order_limit_and_refs(client: Client) -> None:
    client.create_repo("r")
    made = [client.put_file("r", "main", f"/f{i}", b"%d" % i, message=f"m{i}") for i in range(4)]
    newest_first = [c.id for c in reversed(made)]
    log = list(client.log("r"))
    assert [c.id for c in log] == newest_first
    assert [c.message for c in log] == ["m3", "m2", "m1", "m0"]
    assert all(log[i].parent == log[i + 1].id for i in range(3)) and log[-1].parent is None
    assert [c.id for c in client.log("r", limit=2)] == newest_first[:2]
    assert [c.id for c in client.log("r", "main~2")] == newest_first[2:]

    assert client.inspect_commit("r", "main").id == made[3].id
    assert client.inspect_commit("r", "main^").id == made[2].id
    assert client.inspect_commit("r", "main^^").id == made[1].id
    assert client.inspect_commit("r", "main~2").id == made[1].id
    assert client.inspect_commit("r", "main~3").id == made[0].id
    assert client.inspect_commit("r", "main~1^").id == made[1].id
    with pytest.raises(NotFound):
        client.inspect_commit("r", "main~4")

    # Ids and unique prefixes of 6+ characters; 5 are too few.
    target = made[1].id
    assert client.inspect_commit("r", target).id == target
    others = [c.id for c in made if c.id != target]
    n = next(n for n in range(6, 33) if all(not o.startswith(target[:n]) for o in others))
    assert client.inspect_commit("r", target[:n]).id == target
    assert client.get_file("r", target[:n], "/f1") == b"1"
    with pytest.raises(NotFound):
        client.inspect_commit("r", target[:5])
    with pytest.raises(NotFound):
        client.inspect_commit("r", "0" * 32)
    for bad in ["", "main~x", "main^~-1", "ma in", "main@{yesterday}", "main@{"]:
        with pytest.raises(InvalidArgument):
            client.inspect_commit("r", bad)

    # Commit ids are per repo: another repo does not resolve them.
    client.create_repo("other")
    with pytest.raises(NotFound):
        client.inspect_commit("other", target)


def test_ambiguous_prefix(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import datavc.commits

    # Two commits sharing a 6-char prefix would take ~5,000 random ids; fix the prefix instead.
    monkeypatch.setattr(datavc.commits, "new_id", lambda: "abcdef" + uuid.uuid4().hex[6:])
    client.create_repo("r")
    a = client.put_file("r", "main", "/a", b"a")
    b = client.put_file("r", "main", "/b", b"b")
    with pytest.raises(AmbiguousRef):
        client.inspect_commit("r", "abcdef")
    with pytest.raises(InvalidArgument):  # AmbiguousRef is an InvalidArgument
        client.get_file("r", "abcdef", "/a")
    n = next(n for n in range(7, 33) if a.id[:n] != b.id[:n])
    assert client.inspect_commit("r", a.id[:n]).id == a.id
    assert client.inspect_commit("r", b.id[:n]).id == b.id


def test_ref_as_of_time(client: Client) -> None:
    client.create_repo("r")
    c1 = client.put_file("r", "main", "/f", b"old")
    time.sleep(0.02)
    between = c1.finished_at + timedelta(milliseconds=10)  # type: ignore[operator]
    time.sleep(0.02)
    c2 = client.put_file("r", "main", "/f", b"new")
    assert c2.finished_at > between  # type: ignore[operator]
    assert client.inspect_commit("r", f"main@{{{between.isoformat()}}}").id == c1.id
    assert client.get_file("r", f"main@{{{between.isoformat()}}}", "/f") == b"old"
    now = c2.finished_at + timedelta(seconds=1)  # type: ignore[operator]
    assert client.inspect_commit("r", f"main@{{{now.isoformat()}}}").id == c2.id
    assert client.inspect_commit("r", f"main@{{{now.isoformat()}}}~1").id == c1.id
    with pytest.raises(NotFound):
        client.inspect_commit("r", "main@{2000-01-01T00:00:00Z}")
    with pytest.raises(NotFound):
        client.inspect_commit("r", "nosuch@{2000-01-01T00:00:00Z}")


def test_commit_context_manager(client: Client) -> None:
    client.create_repo("r")
    with client.commit("r", "main", message="two files") as tx:
        tx.put_file("/a", b"A")
        tx.put_file("/b", io.BytesIO(b"B"))
    assert tx.info is not None and tx.info.state == "finished"
    assert tx.info.message == "two files"
    assert files_of(client, "r") == {"/a": b"A", "/b": b"B"}

    before = snapshot_state(client)
    with pytest.raises(RuntimeError, match="boom"), client.commit("r") as tx2:
        tx2.put_file("/c", b"C")
        tx2.delete_file("/a")
        raise RuntimeError("boom")
    assert snapshot_state(client) == before
    assert client.list_open_commits("r") == []
    with pytest.raises(NotFound):
        client.inspect_commit("r", tx2.id)

    with client.commit("r") as tx3:
        tx3.delete_file(["/a", "/b"])
        tx3.copy_file("r", "main", "/a", "/copy-of-a")  # main still has /a
    assert files_of(client, "r") == {"/copy-of-a": b"A"}
    assert_fsck_clean(client)


# ----- files -----------------------------------------------------------------------------


def test_put_sources_and_reads(client: Client, tmp_path: Path) -> None:
    client.create_repo("r")
    big = os.urandom(1_500_000)  # several content-defined chunks
    local = tmp_path / "local.bin"
    local.write_bytes(big)
    client.put_file("r", "main", "/bytes.txt", b"hello world")
    client.put_file("r", "main", "/stream.txt", io.BytesIO(b"streamed"))
    client.put_file("r", "main", "/big/local.bin", local)
    client.put_file("r", "main", "/big/pathstr.bin", str(local))
    c = client.put_file("r", "main", "/empty", b"")
    assert c.file_count == 5 and c.size == 11 + 8 + 2 * len(big)

    assert client.get_file("r", "main", "/bytes.txt") == b"hello world"
    assert client.get_file("r", "main", "stream.txt") == b"streamed"  # leading / optional
    assert client.get_file("r", "main", "/big/local.bin") == big
    assert client.get_file("r", "main", "/empty") == b""

    # Ranges and seeking.
    assert b"".join(client.iter_file("r", "main", "/bytes.txt", 6, 5)) == b"world"
    assert b"".join(client.iter_file("r", "main", "/bytes.txt", 6)) == b"world"
    start, length = 700_001, 600_000
    assert (
        b"".join(client.iter_file("r", "main", "/big/local.bin", start, length))
        == big[start : start + length]
    )
    with pytest.raises(InvalidArgument):
        b"".join(client.iter_file("r", "main", "/bytes.txt", 5, 100))
    with client.open_file("r", "main", "/big/local.bin") as f:
        assert f.read(10) == big[:10]
        f.seek(1_000_000)
        assert f.read(100) == big[1_000_000:1_000_100]
        f.seek(-5, io.SEEK_END)
        assert f.read() == big[-5:]
    with pytest.raises(InvalidArgument):
        client.get_file("r", "main", "/big")  # a directory
    with pytest.raises(PathNotFound):
        client.get_file("r", "main", "/nope")

    # get_to_path: one file (to a path or into a directory), and a whole directory.
    out = tmp_path / "out"
    out.mkdir()
    assert client.get_to_path("r", "main", "/bytes.txt", out / "x.txt") == 1
    assert (out / "x.txt").read_bytes() == b"hello world"
    assert client.get_to_path("r", "main", "/stream.txt", out) == 1
    assert (out / "stream.txt").read_bytes() == b"streamed"
    assert client.get_to_path("r", "main", "/big", out / "bigdir") == 2
    assert sorted(p.name for p in (out / "bigdir").iterdir()) == ["local.bin", "pathstr.bin"]
    assert (out / "bigdir" / "pathstr.bin").read_bytes() == big
    assert client.get_to_path("r", "main", "/", out / "all") == 5
    assert (out / "all" / "big" / "local.bin").read_bytes() == big
    assert (out / "all" / "empty").read_bytes() == b""


def test_put_directory_merges(client: Client, tmp_path: Path) -> None:
    client.create_repo("r")
    d1 = make_tree(tmp_path / "d1", {"a.txt": b"a1", "sub/b.txt": b"b1", "sub/deep/c.txt": b"c1"})
    c = client.put_file("r", "main", "/data", d1)
    assert c.file_count == 3
    assert files_of(client, "r") == {
        "/data/a.txt": b"a1",
        "/data/sub/b.txt": b"b1",
        "/data/sub/deep/c.txt": b"c1",
    }

    # A second directory merges: same names are replaced, others stay, new ones are added.
    d2 = make_tree(tmp_path / "d2", {"a.txt": b"a2", "sub/new.txt": b"n", "top.txt": b"t"})
    client.put_file("r", "main", "/data", d2)
    assert files_of(client, "r") == {
        "/data/a.txt": b"a2",
        "/data/sub/b.txt": b"b1",
        "/data/sub/deep/c.txt": b"c1",
        "/data/sub/new.txt": b"n",
        "/data/top.txt": b"t",
    }
    diff = {d.path: d.status for d in client.diff("r", "main")}
    assert diff == {"/data/a.txt": "modified", "/data/sub/new.txt": "added", "/data/top.txt": "added"}

    # Into the root, and into an open commit.
    client.put_file("r", "main", "/", make_tree(tmp_path / "d3", {"root.txt": b"r"}))
    assert client.get_file("r", "main", "/root.txt") == b"r"
    assert client.get_file("r", "main", "/data/top.txt") == b"t"
    with client.commit("r") as tx:
        tx.put_file("/data/sub", make_tree(tmp_path / "d4", {"b.txt": b"b2"}))
    assert client.get_file("r", "main", "/data/sub/b.txt") == b"b2"
    assert client.get_file("r", "main", "/data/sub/new.txt") == b"n"

    # A directory cannot go where a file is; nothing changes.
    before = snapshot_state(client)
    with pytest.raises(Conflict):
        client.put_file("r", "main", "/root.txt", d1)
    with pytest.raises(InvalidArgument):
        client.put_file("r", "main", "/", b"a file at the root")
    with pytest.raises(InvalidArgument):
        client.put_file("r", "main", "/f", tmp_path / "does-not-exist")
    assert snapshot_state(client) == before
    assert_fsck_clean(client)


def test_list_glob_inspect(client: Client) -> None:
    client.create_repo("r")
    with client.commit("r") as tx:
        tx.put_file("/a.csv", b"1,2\n")
        tx.put_file("/b.txt", b"hello")
        tx.put_file("/data/x.csv", b"xx")
        tx.put_file("/data/y.json", b"{}")
        tx.put_file("/data/deep/z.csv", b"zzz")
    top = list(client.list_files("r", "main"))
    assert [(f.path, f.kind, f.size, f.file_count) for f in top] == [
        ("/a.csv", "file", 4, 1),
        ("/b.txt", "file", 5, 1),
        ("/data", "dir", 7, 3),
    ]
    commit = client.inspect_commit("r", "main").id
    assert all(f.repo == "r" and f.commit == commit for f in top)
    assert [f.path for f in client.list_files("r", "main", "/data")] == [
        "/data/deep",
        "/data/x.csv",
        "/data/y.json",
    ]
    rec = list(client.list_files("r", "main", "/", recursive=True))
    assert [(f.path, f.size) for f in rec] == [
        ("/a.csv", 4),
        ("/b.txt", 5),
        ("/data/deep/z.csv", 3),
        ("/data/x.csv", 2),
        ("/data/y.json", 2),
    ]
    assert [f.path for f in client.walk_files("r", "main", "/data")] == [
        "/data/deep/z.csv",
        "/data/x.csv",
        "/data/y.json",
    ]
    assert [f.path for f in client.list_files("r", "main", "/b.txt")] == ["/b.txt"]
    with pytest.raises(PathNotFound):
        list(client.list_files("r", "main", "/nope"))

    def glob(p: str) -> list[str]:
        return sorted(f.path for f in client.glob_files("r", "main", p))

    assert glob("/*.csv") == ["/a.csv"]
    assert glob("/*") == ["/a.csv", "/b.txt", "/data"]
    assert glob("/data/*") == ["/data/deep", "/data/x.csv", "/data/y.json"]
    assert glob("/**/*.csv") == ["/a.csv", "/data/deep/z.csv", "/data/x.csv"]
    assert glob("/data/**/*.csv") == ["/data/deep/z.csv", "/data/x.csv"]
    assert glob("/*/?.json") == ["/data/y.json"]
    assert glob("/[ab].*") == ["/a.csv", "/b.txt"]
    assert "/data/deep/z.csv" in glob("/**")
    assert glob("/nothing*") == []

    fi = client.inspect_file("r", "main", "/data/x.csv")
    assert (fi.path, fi.kind, fi.size, fi.file_count) == ("/data/x.csv", "file", 2, 1)
    assert fi.hash == client.context.store.algorithm.digest(b"xx")
    di = client.inspect_file("r", "main", "/data")
    assert (di.kind, di.size, di.file_count) == ("dir", 7, 3)
    root = client.inspect_file("r", "main", "/")
    assert (root.kind, root.size, root.file_count) == ("dir", 16, 5)
    assert root.hash == client.inspect_commit("r", "main").tree
    with pytest.raises(PathNotFound):
        client.inspect_file("r", "main", "/data/nope")


def test_delete_files(client: Client) -> None:
    client.create_repo("r")
    with client.commit("r") as tx:
        for p in ["/a", "/b", "/d/x", "/d/y", "/e/z"]:
            tx.put_file(p, p.encode())
    c = client.delete_file("r", "main", "/a")
    assert c.file_count == 4 and c.message == "delete /a"
    client.delete_file("r", "main", ["/b", "/d"])
    assert files_of(client, "r") == {"/e/z": b"/e/z"}
    before = snapshot_state(client)
    with pytest.raises(PathNotFound):
        client.delete_file("r", "main", "/a")
    with pytest.raises(PathNotFound):
        client.delete_file("r", "main", ["/e/z", "/missing"])  # all or nothing
    with pytest.raises(InvalidArgument):
        client.delete_file("r", "main", [])
    with pytest.raises(InvalidArgument):
        client.delete_file("r", "main", "/")
    assert snapshot_state(client) == before
    assert client.list_open_commits("r") == []


def test_copy_writes_no_new_data(client: Client) -> None:
    client.create_repo("src")
    client.create_repo("dst")
    payload = os.urandom(800_000)
    with client.commit("src") as tx:
        tx.put_file("/dir/big.bin", payload)
        tx.put_file("/dir/small.txt", b"small")
    client.put_file("dst", "main", "/existing", b"e")
    store = client.context.store
    before = object_ids(client)

    client.copy_file("src", "main", "/dir/big.bin", "src", "main", "/copy/big.bin")
    client.copy_file("src", "main", "/dir", "dst", "main", "/imported")
    client.copy_file("src", "main~0", "/dir/small.txt", "dst", "main", "/s.txt")

    # Only tree objects (directory listings) are new: no byte of file content was stored again.
    new = object_ids(client) - before
    assert new and all(store.is_tree(oid) for oid in new)
    assert client.get_file("src", "main", "/copy/big.bin") == payload
    assert files_of(client, "dst") == {
        "/existing": b"e",
        "/imported/big.bin": payload,
        "/imported/small.txt": b"small",
        "/s.txt": b"small",
    }
    a = client.inspect_file("src", "main", "/dir/big.bin")
    b = client.inspect_file("dst", "main", "/imported/big.bin")
    assert (a.hash, a.size) == (b.hash, b.size)
    with pytest.raises(PathNotFound):
        client.copy_file("src", "main", "/nope", "dst", "main", "/x")
    assert_fsck_clean(client)


def test_diff(client: Client) -> None:
    client.create_repo("r")
    with client.commit("r") as tx:
        tx.put_file("/keep", b"same")
        tx.put_file("/mod", b"12345")
        tx.put_file("/gone/x", b"xyz")
    c1 = client.inspect_commit("r", "main")
    # First commit against nothing: all added.
    assert sorted((d.path, d.status, d.old_size, d.new_size) for d in client.diff("r", "main")) == [
        ("/gone/x", "added", None, 3),
        ("/keep", "added", None, 4),
        ("/mod", "added", None, 5),
    ]
    with client.commit("r") as tx:
        tx.put_file("/mod", b"1234567")
        tx.delete_file("/gone")
        tx.put_file("/new/y", b"yy")
    d = {x.path: x for x in client.diff("r", "main")}
    assert {p: (x.status, x.old_size, x.new_size) for p, x in d.items()} == {
        "/mod": ("modified", 5, 7),
        "/gone/x": ("deleted", 3, None),
        "/new/y": ("added", None, 2),
    }
    assert d["/mod"].old_hash == client.context.store.algorithm.digest(b"12345")
    assert d["/mod"].new_hash == client.context.store.algorithm.digest(b"1234567")
    # Two refs, both directions.
    assert {x.path: x.status for x in client.diff("r", c1.id, "main")} == {p: x.status for p, x in d.items()}
    back = {x.path: x.status for x in client.diff("r", "main", c1.id)}
    assert back == {"/mod": "modified", "/gone/x": "added", "/new/y": "deleted"}
    assert list(client.diff("r", "main", "main")) == []
    # Across repos.
    client.create_repo("r2")
    client.put_file("r2", "main", "/keep", b"same")
    cross = {x.path: x.status for x in client.diff("r", c1.id, "main", b_repo="r2")}
    assert cross == {"/mod": "deleted", "/gone/x": "deleted"}


def test_rollback(client: Client) -> None:
    client.create_repo("r")
    c1 = client.put_file("r", "main", "/a", b"v1")
    client.put_file("r", "main", "/b", b"added later")
    c3 = client.put_file("r", "main", "/a", b"v3")
    rb = client.rollback("r", "main", to="main~2")
    assert (rb.origin, rb.parent, rb.tree, rb.state) == ("rollback", c3.id, c1.tree, "finished")
    assert files_of(client, "r") == files_of(client, "r", c1.id) == {"/a": b"v1"}
    assert ids(client, "r")[:2] == [rb.id, c3.id] and len(ids(client, "r")) == 4  # history kept
    assert client.get_file("r", c3.id, "/a") == b"v3"
    assert client.reflog("r", "main")[0].why.startswith("rollback commit")
    # Rolling forward again is just another rollback.
    rb2 = client.rollback("r", "main", to=c3.id, message="undo the rollback")
    assert rb2.message == "undo the rollback" and rb2.tree == c3.tree
    with pytest.raises(Conflict):
        client.rollback("r", "main", to="main")
    with pytest.raises(NotFound):
        client.rollback("r", "main", to="nosuch")
    assert_fsck_clean(client)


@pytest.fixture(scope="module")
def rt_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """One embedded store shared by the examples of the hypothesis round-trip."""
    with Client.init(tmp_path_factory.mktemp("rt")) as c:
        yield c


@settings(max_examples=30)  # each example is a commit: keep the suite fast
@given(
    st.dictionaries(
        st.lists(
            st.text(
                st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
                min_size=1,
                max_size=12,
            ).filter(lambda s: s not in (".", "..")),
            min_size=1,
            max_size=3,
        ).map(lambda parts: "/" + "/".join(parts)),
        st.binary(max_size=2000),
        min_size=1,
        max_size=8,
    )
)
def test_round_trip_random_paths(rt_client: Client, files: dict[str, bytes]) -> None:
    # A file path must not also be a directory prefix of another path.
    paths = sorted(files)
    if any(q.startswith(p + "/") for p in paths for q in paths):
        return
    repo = "r" + uuid.uuid4().hex[:12]  # one store for every example; a fresh repo for each
    rt_client.create_repo(repo)
    with rt_client.commit(repo) as tx:
        for p, data in files.items():
            tx.put_file(p, data)
    assert files_of(rt_client, repo) == files
    c = rt_client.inspect_commit(repo, "main")
    assert (c.file_count, c.size) == (len(files), sum(map(len, files.values())))


def test_round_trip_each_deployment(client: Client) -> None:
    # The hypothesis round-trip runs on SQLite for speed; the same data shapes on every deployment here.
    files = {"/ünï/cödé.bin": os.urandom(3000), "/sp ace/x y": b"", "/a-b/c_d.e.f": b"\x00\xff" * 100}
    client.create_repo("r")
    with client.commit("r") as tx:
        for p, data in files.items():
            tx.put_file(p, data)
    assert files_of(client, "r") == files


# ----- bad input never changes stored data -------------------------------------------------


def test_bad_input_leaves_data_unchanged(client: Client) -> None:
    client.create_repo("r")
    c = client.put_file("r", "main", "/a/b", b"keep")
    client.create_branch("r", "dev")
    client.create_tag("r", "main", "t1")
    before = snapshot_state(client)
    fsck_before = client.fsck()

    bad_paths = ["/a/../b", "../x", "/a/./b", "a//b", "/a\x00b", "/x/\x00"]
    for p in bad_paths:
        with pytest.raises(InvalidArgument):
            client.put_file("r", "main", p, b"x")
        with pytest.raises(InvalidArgument):
            client.get_file("r", "main", p)
        with pytest.raises(InvalidArgument):
            client.delete_file("r", "main", p)
    calls: list[tuple[type[DatavcError], Any]] = [
        (InvalidArgument, lambda: client.put_file("bad name", "main", "/f", b"x")),
        (RepoNotFound, lambda: client.put_file("nosuch", "main", "/f", b"x")),
        (BranchNotFound, lambda: client.put_file("r", "nosuch", "/f", b"x")),
        (BranchNotFound, lambda: client.delete_branch("r", "nosuch")),
        (InvalidArgument, lambda: client.delete_branch("r", "bad/name")),
        (NotFound, lambda: client.get_file("r", "nosuch", "/a/b")),
        (NotFound, lambda: client.reset_branch("r", "main", "nosuch")),
        (BranchNotFound, lambda: client.reset_branch("r", "nosuch", "main")),
        (NotFound, lambda: client.create_tag("r", "nosuch", "t2")),
        (NotFound, lambda: client.start_commit("r", "nosuch")),
        (NotFound, lambda: client.finish_commit("r", "0" * 32)),
        (InvalidArgument, lambda: client.finish_commit("r", "not-a-commit!")),
        (Conflict, lambda: client.put_file("r", "main", "/a/b/c", b"under a file")),
        (Conflict, lambda: client.put_file("r", "main", "/a/b", b"x", commit=c.id)),
        (InvalidArgument, lambda: client.checkout("r", "main", "/")),
        (InvalidArgument, lambda: client.gc(grace=timedelta(seconds=-1))),
        (NotFound, lambda: list(client.log("r", "nosuch"))),
        (InvalidArgument, lambda: client.create_branch("r", "x" * 64)),
        (AlreadyExists, lambda: client.create_branch("r", "dev")),
        (AlreadyExists, lambda: client.create_tag("r", "main", "t1")),
    ]
    for err, call in calls:
        with pytest.raises(err):
            call()
    assert snapshot_state(client) == before
    after = client.fsck()
    assert after.ok and (after.objects_checked, after.commits_checked) == (
        fsck_before.objects_checked,
        fsck_before.commits_checked,
    )


# ----- working copies -----------------------------------------------------------------------


def test_checkout_status_commit(client: Client, tmp_path: Path) -> None:
    client.create_repo("r")
    with client.commit("r") as tx:
        tx.put_file("/a.txt", b"a")
        tx.put_file("/sub/b.txt", b"b")
        tx.put_file("/sub/c.txt", b"c")
    wd = tmp_path / "wd"
    co = client.checkout("r", "main", wd)
    assert (co.files_written, co.files_deleted, co.branch) == (3, 0, "main")
    assert (wd / "sub" / "b.txt").read_bytes() == b"b"
    assert client.status(wd).clean

    (wd / "a.txt").write_bytes(b"a changed")
    (wd / "sub" / "c.txt").unlink()
    (wd / "new").mkdir()
    (wd / "new" / "d.txt").write_bytes(b"d")
    st_ = client.status(wd)
    assert {(c.path, c.status) for c in st_.changes} == {
        ("/a.txt", "modified"),
        ("/sub/c.txt", "deleted"),
        ("/new/d.txt", "added"),
    }
    assert (st_.repo, st_.branch) == ("r", "main")
    # Status from a subdirectory finds the checkout.
    assert len(client.status(wd / "sub").changes) == 3

    done = client.commit_workdir(wd, "local edits")
    assert done.message == "local edits"
    assert files_of(client, "r") == {"/a.txt": b"a changed", "/sub/b.txt": b"b", "/new/d.txt": b"d"}
    assert client.status(wd).clean
    with pytest.raises(InvalidArgument):
        client.commit_workdir(wd)  # nothing to commit

    # A checkout of a commit (not a branch) cannot commit back.
    wd2 = tmp_path / "wd2"
    co2 = client.checkout("r", "main^", wd2)
    assert co2.branch is None
    (wd2 / "x").write_bytes(b"x")
    with pytest.raises(InvalidArgument):
        client.commit_workdir(wd2)
    # Non-empty directory that is not a checkout.
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_bytes(b"f")
    with pytest.raises(InvalidArgument):
        client.checkout("r", "main", tmp_path / "full")
    with pytest.raises(InvalidArgument):
        client.status(tmp_path / "full")
    # Local changes block a checkout unless forced.
    with pytest.raises(Conflict):
        client.checkout("r", "main", wd2)
    client.checkout("r", "main", wd2, force=True)
    assert (wd2 / "a.txt").read_bytes() == b"a changed"


def test_commit_workdir_branch_moved(client: Client, tmp_path: Path) -> None:
    client.create_repo("r")
    client.put_file("r", "main", "/shared.txt", b"base")
    wd = tmp_path / "wd"
    client.checkout("r", "main", wd)
    (wd / "mine.txt").write_bytes(b"mine")
    theirs = client.put_file("r", "main", "/theirs.txt", b"theirs")

    before = snapshot_state(client)
    with pytest.raises(BranchMoved):
        client.commit_workdir(wd, "strict")
    assert snapshot_state(client) == before
    assert [(c.path, c.status) for c in client.status(wd).changes] == [("/mine.txt", "added")]

    done = client.commit_workdir(wd, "rebased", rebase=True)
    assert done.parent == theirs.id
    assert files_of(client, "r") == {"/shared.txt": b"base", "/mine.txt": b"mine", "/theirs.txt": b"theirs"}
    # The checkout now has both changes and is clean at the new head.
    assert (wd / "theirs.txt").read_bytes() == b"theirs"
    st_ = client.status(wd)
    assert st_.clean and st_.commit == done.id


def test_checkout_rewrites_only_differing_files(client: Client, tmp_path: Path) -> None:
    client.create_repo("r")
    with client.commit("r") as tx:
        for i in range(10):
            tx.put_file(f"/d{i % 3}/f{i}.txt", b"v1 %d" % i)
    c1 = client.inspect_commit("r", "main")
    with client.commit("r") as tx:
        tx.put_file("/d0/f0.txt", b"v2 0")
        tx.put_file("/d1/f1.txt", b"v2 1")
        tx.delete_file("/d2/f2.txt")
        tx.put_file("/d2/new.txt", b"new")
    wd = tmp_path / "wd"
    assert client.checkout("r", c1.id, wd).files_written == 10
    stats = {p: os.stat(p) for p in wd.rglob("*.txt")}

    co = client.checkout("r", "main", wd)
    assert (co.files_written, co.files_deleted, co.files_unchanged) == (3, 1, 7)
    changed = {wd / "d0/f0.txt", wd / "d1/f1.txt", wd / "d2/new.txt"}
    for p, before in stats.items():
        if p in changed or p == wd / "d2/f2.txt":
            continue
        after = os.stat(p)
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), p
    assert not (wd / "d2/f2.txt").exists()
    assert (wd / "d2/new.txt").read_bytes() == b"new"
    assert client.status(wd).clean
    # Back again: the same three paths change.
    assert client.checkout("r", c1.id, wd).files_written == 3
    assert (wd / "d0/f0.txt").read_bytes() == b"v1 0"


# ----- fsck and gc --------------------------------------------------------------------------


def corrupt_object(client: Client, oid: str) -> None:
    """Flip one byte of ``oid`` in the object store (and drop any local cached copy)."""
    backend = client.context.store.backend
    if isinstance(backend, CachedBackend):
        remote: Any = backend.remote
        data = bytearray(remote.get(oid))
        data[len(data) // 2] ^= 0xFF
        remote.raw_client.put_object(Bucket=remote.bucket, Key=remote.object_key(oid), Body=bytes(data))
        backend.cache_path(oid).unlink(missing_ok=True)
    else:
        path = backend.object_path(oid)  # type: ignore[attr-defined]
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


def test_fsck_detects_corruption(client: Client) -> None:
    client.create_repo("r")
    client.put_file("r", "main", "/good", b"good data")
    client.put_file("r", "main", "/victim", b"victim data " * 100)
    report = client.fsck()
    assert report.ok and report.commits_checked == 2 and report.objects_checked > 2
    entry = client.context.store.get_entry(client.inspect_commit("r", "main").tree, "victim")
    assert entry is not None
    oid = entry.refs[0].oid
    corrupt_object(client, oid)

    # A fresh client (another process) holds no verified copy in memory.
    with Client.open(client.config.home) as fresh:
        report = fresh.fsck()
        assert not report.ok and report.corrupt_objects == (oid,)
        with pytest.raises(CorruptData) as info:
            fresh.get_file("r", "main", "/victim")
        assert oid in str(info.value)
        assert fresh.get_file("r", "main", "/good") == b"good data"
    # The long-lived client sees it too.
    assert client.fsck().corrupt_objects == (oid,)


def test_gc(client: Client) -> None:
    client.create_repo("keep")
    client.create_repo("drop")
    shared = b"shared by both repos " * 50
    client.put_file("keep", "main", "/shared", shared)
    client.put_file("keep", "main", "/kept", b"only in keep")
    client.put_file("drop", "main", "/shared", shared)
    client.put_file("drop", "main", "/unique", b"only in drop " * 20)
    unique = client.inspect_file("drop", "main", "/unique")
    drop_tree = client.inspect_commit("drop", "main").tree
    store = client.context.store
    unique_oid = store.get_entry(drop_tree, "unique").refs[0].oid  # type: ignore[union-attr]

    info = client.gc(dry_run=True, grace=timedelta(0))
    assert info.dry_run and info.objects_deleted == 0
    assert info.objects_reachable == info.objects_total  # nothing is garbage yet

    client.delete_repo("drop", force=True)
    total = len(object_ids(client))
    dry = client.gc(dry_run=True, grace=timedelta(0))
    assert dry.objects_deleted > 0 and dry.bytes_deleted >= unique.size
    assert len(object_ids(client)) == total  # dry run deleted nothing
    # With the default grace period (1 h) young garbage stays.
    young = client.gc()
    assert young.objects_deleted == 0 and young.objects_kept_grace == dry.objects_deleted

    done = client.gc(grace=timedelta(0), force=True)
    assert (done.objects_deleted, done.bytes_deleted) == (dry.objects_deleted, dry.bytes_deleted)
    assert len(object_ids(client)) == total - done.objects_deleted
    assert unique_oid not in object_ids(client)
    assert drop_tree not in object_ids(client)
    assert files_of(client, "keep") == {"/shared": shared, "/kept": b"only in keep"}
    assert_fsck_clean(client)
    assert client.gc(grace=timedelta(0), force=True).objects_deleted == 0
    # The shared content can be put again into a new repo.
    client.create_repo("drop")
    client.put_file("drop", "main", "/unique", b"only in drop " * 20)
    assert client.get_file("drop", "main", "/unique") == b"only in drop " * 20
    assert_fsck_clean(client)


def test_gc_keeps_open_commits(client: Client) -> None:
    client.create_repo("r")
    client.put_file("r", "main", "/base", b"base")
    c = client.start_commit("r")
    client.put_file("r", "main", "/pending", b"not finished yet " * 10, commit=c.id)
    client.gc(grace=timedelta(0), force=True)
    done = client.finish_commit("r", c.id)
    assert client.get_file("r", done.id, "/pending") == b"not finished yet " * 10
    assert_fsck_clean(client)
