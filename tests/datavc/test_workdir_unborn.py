"""Checking out a branch with no commits: an empty working copy that commits like git's first commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from datavc.client import Client
from datavc.errors import BranchMoved, NotFound


def test_init_checkout_add_commit_as_in_git(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "store")
    c.create_repo("r")
    wc = tmp_path / "wc"
    info = c.checkout("r", "main", wc)
    assert (info.commit, info.branch, info.files_written) == ("", "main", 0)
    assert c.status(wc).clean
    (wc / "a.txt").write_text("a")
    assert [d.path for d in c.status(wc).changes] == ["/a.txt"]
    first = c.commit_workdir(wc, "first")
    assert first.parent is None
    assert c.get_file("r", "main", "/a.txt") == b"a"
    assert c.status(wc).clean
    (wc / "b.txt").write_text("b")
    second = c.commit_workdir(wc, "second")
    assert second.parent == first.id
    c.close()


def test_an_unborn_branch_that_gets_a_commit_meanwhile_is_a_moved_branch(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "store")
    c.create_repo("r")
    wc = tmp_path / "wc"
    c.checkout("r", "main", wc)
    c.put_file("r", "main", "/other.txt", b"o")
    (wc / "a.txt").write_text("a")
    with pytest.raises(BranchMoved):
        c.commit_workdir(wc, "mine")
    c.commit_workdir(wc, "mine", rebase=True)
    assert sorted(f.path for f in c.list_files("r", "main")) == ["/a.txt", "/other.txt"]
    assert (wc / "other.txt").read_bytes() == b"o"
    c.close()


def test_a_missing_ref_is_still_not_found(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "store")
    c.create_repo("r")
    with pytest.raises(NotFound):
        c.checkout("r", "nosuch", tmp_path / "wc")
    with pytest.raises(NotFound):
        c.checkout("r", "main~1", tmp_path / "wc")
    c.close()
