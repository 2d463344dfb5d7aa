"""Rollback through ``datavc.Client`` (``datavc/rollback.py``) on every deployment."""

from __future__ import annotations

import pytest

from datavc.client import Client
from datavc.errors import Conflict, NotFound
from tests.datavc.helpers import assert_fsck_clean, files_of, ids


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
