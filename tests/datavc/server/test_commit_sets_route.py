"""``GET /api/v1/commit-sets/{id}`` and the remote client's commit-set methods, through the
contract suite's ``api`` fixture (a real server on 127.0.0.1)."""

from __future__ import annotations

import pytest

from datavc import errors
from datavc.client import Client
from tests.datavc.server.test_contract import api, scheduler

__all__ = ["api"]  # the contract suite's fixture, used here

UPPER = 'for f in "$DATAVC_IN"/src/*; do tr a-z A-Z < "$f" > "$DATAVC_OUT/$(basename "$f")"; done'


# Remote over SQLite: the route, its JSON and the remote client's decoding; the direct client
# on both databases is tests/datavc/pipelines/test_commit_sets.py (the test-time budget).
@pytest.mark.parametrize("api", ["remote-sqlite"], indirect=True)
def test_commit_set_inspect_and_wait(api: Client) -> None:
    api.create_repo("src")
    api.create_pipeline(
        name="up", input={"pfs": {"repo": "src", "glob": "/*"}}, transform={"cmd": ["sh", "-c", UPPER]}
    )
    with api.commit("src", "main") as tx:
        tx.put_file("/a", b"abc")
    with pytest.raises(errors.Conflict):
        api.wait_commit_set(tx.id, timeout=0)  # its job is still waiting for a scheduler
    assert scheduler(api).run().ok
    info = api.wait_commit_set(tx.id, timeout=30)
    assert info.id == tx.id and info.created_by
    assert [(m.repo, m.branch, m.origin) for m in info.commits] == [
        ("src", "main", "user"),
        ("up", "main", "pipeline"),
    ]
    assert [(j.pipeline, j.state, j.commit_set) for j in info.jobs] == [("up", "success", tx.id)]
    assert api.inspect_commit_set(tx.id[:10]) == info
    assert api.inspect_commit("up", "main").commit_set == tx.id
    assert api.get_file("up", "main", "/a") == b"ABC"
    with pytest.raises(errors.NotFound):
        api.inspect_commit_set("e" * 32)
