"""Commits through ``datavc.Client`` (``datavc/commits.py``): start, finish, abort, inspect,
rebase on finish and the ``commit()`` context manager, on every deployment."""

from __future__ import annotations

import io

import pytest

from datavc.client import Client
from datavc.errors import CommitFinished, Conflict, NotFound
from tests.datavc.helpers import assert_fsck_clean, files_of, ids, snapshot_state


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
