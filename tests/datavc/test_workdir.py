"""Working copies (``datavc/workdir.py``): checkout, status and commit_workdir, on every deployment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.errors import BranchMoved, Conflict, InvalidArgument
from tests.datavc.helpers import files_of, snapshot_state


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
