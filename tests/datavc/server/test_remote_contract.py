"""The contract for what issue 11 brought to the remote client: ``wait``, ``open_commits``
(with expiry), ``put_batch``/``iter_batch`` and ``put_stream``, each direct and remote.

Reuses the contract suite's ``api`` fixture (direct and remote, SQLite and PostgreSQL).
"""

from __future__ import annotations

import io
import threading
import time

import pytest

from datavc import batch, errors
from datavc.client import Client
from tests.datavc.server.test_contract import api, scheduler

__all__ = ["api"]


def test_wait_returns_the_downstream_jobs_once_done(api: Client) -> None:
    api.create_repo("src")
    api.create_pipeline(name="copy", input={"pfs": {"repo": "src", "glob": "/"}}, transform={"cmd": ["true"]})
    api.put_file("src", "main", "/b", b"b")
    with pytest.raises(errors.Conflict, match="still running"):
        api.wait("src", "main", timeout=0.2)
    runner = threading.Thread(target=lambda: (time.sleep(0.2), scheduler(api).run()))
    runner.start()
    try:
        jobs = api.wait("src", "main", timeout=60)
    finally:
        runner.join()
    assert jobs and all(j.done and j.pipeline == "copy" for j in jobs)
    with pytest.raises(errors.NotFound):
        api.wait("nope", "main", timeout=1)


def test_open_commits_with_expiry(api: Client) -> None:
    api.create_repo("r")
    api.create_repo("s")
    c1 = api.start_commit("r", "main")
    c2 = api.start_commit("s", "main")
    found = api.open_commits()
    assert [o.commit.id for o in found] == [c1.id, c2.id]
    assert all(not o.expired and o.expires_at > o.commit.created_at for o in found)
    assert [o.commit.id for o in api.open_commits("s")] == [c2.id]
    api.abort_commit("r", c1.id)
    assert [o.commit.id for o in api.open_commits()] == [c2.id]


def test_batch_and_stream_puts_are_one_commit_each(api: Client) -> None:
    api.create_repo("b")
    files = {"x/1": b"one", "x/2": b"two" * 1000, "y": b""}
    stream = b"".join(batch.iter_batch((p, len(d), [d]) for p, d in files.items()))
    info = api.put_batch("b", "main", "/d", io.BufferedReader(io.BytesIO(stream)))  # type: ignore[arg-type]
    assert info.file_count == 3
    got = b"".join(api.iter_batch("b", info.id, "/d"))
    assert {p: f.read() for p, _, f in batch.members(io.BufferedReader(io.BytesIO(got)))} == files  # type: ignore[arg-type]
    one = api.put_stream("b", "main", "/s", io.BytesIO(b"streamed"))
    assert one.parent == info.id and api.get_file("b", "main", "/s") == b"streamed"
    with pytest.raises(errors.InvalidArgument):
        api.put_batch("b", "main", "/", io.BufferedReader(io.BytesIO(stream[:-1])))  # type: ignore[arg-type]
    with pytest.raises(errors.NotFound):
        api.put_batch("nope", "main", "/", io.BufferedReader(io.BytesIO(stream)))  # type: ignore[arg-type]
    assert [c.id for c in api.log("b")][:2] == [one.id, info.id]
    assert api.list_open_commits("b") == []
