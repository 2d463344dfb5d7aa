"""The public API, ``datavc.Client``, as a whole, on every deployment: SQLite + local objects,
PostgreSQL + local objects and PostgreSQL + S3 (see the ``client`` fixture).

Each concept has its own module (``test_repos.py``, ``test_commits.py``, ...); here are the
guarantees that span all of them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from datavc.client import Client
from datavc.errors import (
    AlreadyExists,
    BranchNotFound,
    Conflict,
    DatavcError,
    InvalidArgument,
    NotFound,
    RepoNotFound,
)
from tests.datavc.helpers import snapshot_state


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
