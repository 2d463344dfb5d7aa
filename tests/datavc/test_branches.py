"""Branches, the reflog and tags through ``datavc.Client`` (``datavc/branches.py``) on every deployment."""

from __future__ import annotations

import pytest

from datavc.client import Client
from datavc.errors import AlreadyExists, BranchNotFound, Conflict, InvalidArgument, NotFound, TagNotFound
from tests.datavc.helpers import assert_fsck_clean, ids


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
