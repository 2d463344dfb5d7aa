"""datavc.adopt: an existing directory becomes a working copy in one pass, its files untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.errors import InvalidArgument, NotFound


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


def test_adopt_hands_its_index_rows_over_in_batches(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index thread gets the rows in batches: the index is the same, status clean."""
    from datavc import adopt as adopt_mod

    monkeypatch.setattr(adopt_mod._IndexLoader, "BATCH", 4)  # 31 files: 7 full batches and a tail
    c = Client.init(tmp_path / "store")
    c.create_repo("r")
    info = c.adopt("r", "main", data)
    assert info.files_unchanged == len(_tree(data))
    assert c.status(data).clean
    (data / "s1" / "f1.txt").write_text("edited")
    assert [d.path for d in c.status(data).changes] == ["/s1/f1.txt"]
    c.close()


def test_a_failed_adopt_leaves_no_checkout_and_a_killed_ones_scratch_is_cleared(
    tmp_path: Path, data: Path
) -> None:
    c = Client.init(tmp_path / "store")
    c.create_repo("r")
    bad = data / "s0" / "bad\x01name.txt"
    bad.write_bytes(b"a name the store refuses")
    files = _tree(data)
    with pytest.raises(InvalidArgument):
        c.adopt("r", "main", data)
    assert not (data / ".datavc-checkout").exists()  # the index begun beside the walk is gone
    assert _tree(data) == files
    with pytest.raises(NotFound):
        c.inspect_commit("r", "main")  # no commit made
    bad.unlink()
    # What a SIGKILLed adopt leaves: the checkout directory with an index and no state.json.
    scratch = data / ".datavc-checkout"
    (scratch / "tmp").mkdir(parents=True)
    (scratch / "index.sqlite").write_bytes(b"half an index")
    info = c.adopt("r", "main", data)
    assert info.files_unchanged == len(_tree(data)) and c.status(data).clean
    assert "/.datavc-checkout/index.sqlite" not in {f.path for f in c.list_files("r", "main", recursive=True)}
    c.close()


def test_adopt_refuses_a_checkout_name_that_is_not_a_directory(tmp_path: Path, data: Path) -> None:
    c = Client.init(tmp_path / "store")
    c.create_repo("r")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not datavc's")
    (data / ".datavc-checkout").symlink_to(elsewhere)
    with pytest.raises(InvalidArgument, match="not a directory"):
        c.adopt("r", "main", data)
    assert [p.name for p in elsewhere.iterdir()] == ["keep.txt"]  # nothing written through the link
    with pytest.raises(NotFound):
        c.inspect_commit("r", "main")  # no commit made
    c.close()
