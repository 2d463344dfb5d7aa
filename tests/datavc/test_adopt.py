"""datavc.adopt: an existing directory becomes a working copy in one pass, its files untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.errors import InvalidArgument


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".datavc-checkout" not in p.parts
    }


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    for i in range(30):
        f = d / f"s{i % 4}" / f"f{i}.txt"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(f"file {i}\n".encode() * (i + 1))
    (d / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    return d


def test_adopt_commits_the_files_without_rewriting_them(tmp_path: Path, data: Path) -> None:
    c = Client.init(tmp_path / "store")
    c.create_repo("r")
    c.put_file("r", "main", "/gone.txt", b"not in the directory")
    before = {p: os.stat(data / p).st_ino for p in _tree(data)}
    mtimes = {p: os.stat(data / p).st_mtime_ns for p in _tree(data)}
    info = c.adopt("r", "main", data)
    assert info.files_written == 0 and info.files_unchanged == len(before)
    assert {p: os.stat(data / p).st_ino for p in _tree(data)} == before  # same files, not copies
    assert {p: os.stat(data / p).st_mtime_ns for p in _tree(data)} == mtimes
    listed = {f.path.lstrip("/") for f in c.list_files("r", "main", recursive=True)}
    assert listed == set(before)  # exactly the directory: /gone.txt is deleted in that commit
    for p, want in _tree(data).items():
        assert c.get_file("r", "main", "/" + p) == want
    assert c.status(data).clean
    (data / "s0" / "f0.txt").write_text("edited")
    assert [d.path for d in c.status(data).changes] == ["/s0/f0.txt"]
    c.commit_workdir(data, "edit")
    assert c.get_file("r", "main", "/s0/f0.txt") == b"edited"
    c.close()


def test_adopt_onto_an_unborn_branch_and_refusals(tmp_path: Path, data: Path) -> None:
    c = Client.init(tmp_path / "store")
    c.create_repo("r")
    info = c.adopt("r", "main", data)
    assert c.inspect_commit("r", "main").id == info.commit
    with pytest.raises(InvalidArgument):
        c.adopt("r", "main", data)  # already a checkout
    with pytest.raises(InvalidArgument):
        c.adopt("r", "main", tmp_path / "missing")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(InvalidArgument):
        c.adopt("r", info.commit, other)  # a commit, not a branch
    c.close()


def test_adopt_spills_its_index_rows_in_batches(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large adopt writes its rows to a temp file in batches: the index is the same."""
    from datavc import adopt as adopt_mod

    monkeypatch.setattr(adopt_mod._Spill, "BATCH", 4)  # 31 files: 7 spilled batches and a tail
    c = Client.init(tmp_path / "store")
    c.create_repo("r")
    info = c.adopt("r", "main", data)
    assert info.files_unchanged == len(_tree(data))
    assert c.status(data).clean
    (data / "s1" / "f1.txt").write_text("edited")
    assert [d.path for d in c.status(data).changes] == ["/s1/f1.txt"]
    c.close()
