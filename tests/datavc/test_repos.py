"""Repos through ``datavc.Client`` (``datavc/repos.py``) on every deployment (see the ``client`` fixture)."""

from __future__ import annotations

import pytest

from datavc.client import Client
from datavc.errors import AlreadyExists, Conflict, InvalidArgument, RepoNotFound
from tests.datavc.helpers import assert_fsck_clean


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
