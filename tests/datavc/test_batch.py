"""Batch streams (datavc.batch): the format, storing one as a commit, extracting one safely."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc import batch, errors
from datavc.client import Client


def _stream(files: dict[str, bytes]) -> bytes:
    return b"".join(batch.iter_batch((p, len(d), [d]) for p, d in files.items()))


def _members(data: bytes) -> dict[str, bytes]:
    return {p: f.read() for p, _, f in batch.members(io.BufferedReader(io.BytesIO(data)))}  # type: ignore[arg-type]


FILES = {"x/a.txt": b"hello", "x/y/b.bin": os.urandom(3 * batch.PIECE + 17), "empty": b"", "é/ü": b"u"}


def test_round_trip_and_every_cut_is_an_error() -> None:
    data = _stream(FILES)
    assert _members(data) == FILES
    for cut in (len(batch.MAGIC) + 3, len(data) // 2, len(data) - 1):
        with pytest.raises(batch.BadBatch, match="cut"):
            _members(data[:cut])
    with pytest.raises(batch.BadBatch, match="after its end"):
        _members(data + b"x")
    with pytest.raises(batch.BadBatch, match="not a datavc batch"):
        _members(b"PK\x03\x04" + data)


def test_a_file_that_changes_while_read_is_refused() -> None:
    with pytest.raises(errors.InvalidArgument, match="changed while being read"):
        b"".join(batch.iter_batch([("f", 10, [b"12345"])]))
    with pytest.raises(errors.InvalidArgument, match="changed while being read"):
        b"".join(batch.iter_batch([("f", 2, [b"12345"])]))


def test_put_batch_commits_once_merges_and_dedups(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "s")
    c.create_repo("r")
    c.put_file("r", "main", "/d/keep", b"kept")
    info = c.put_batch("r", "main", "/d", io.BufferedReader(io.BytesIO(_stream(FILES))))  # type: ignore[arg-type]
    assert info.file_count == len(FILES) + 1
    for p, d in FILES.items():
        assert c.get_file("r", "main", f"/d/{p}") == d
    assert c.get_file("r", "main", "/d/keep") == b"kept"
    got = b"".join(c.iter_batch("r", "main", "/d"))
    assert _members(got) == {**FILES, "keep": b"kept"}
    out = tmp_path / "out"
    assert batch.extract_batch(io.BufferedReader(io.BytesIO(got)), out) == len(FILES) + 1  # type: ignore[arg-type]
    assert (out / "x" / "y" / "b.bin").read_bytes() == FILES["x/y/b.bin"]


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"../escape": b"x"}, errors.InvalidArgument),
        ({"a/./b": b"x"}, errors.InvalidArgument),
        ({"a": b"1", "/a": b"2"}, errors.InvalidArgument),  # the same path twice once normalised
        ({"a/x": b"1", "b": b"2", "a/x/": b"3"}, errors.InvalidArgument),  # twice, out of order
        ({"d/x": b"1", "d/x ": b"2", "d/\x1b": b"3"}, errors.InvalidArgument),  # a control character
        ({"d/x": b"1", "d/" + "n" * 256: b"2"}, errors.InvalidArgument),  # a name too long
        ({"d/x": b"1", "d/..": b"2"}, errors.InvalidArgument),
    ],
)
def test_put_batch_refuses_bad_paths_and_makes_no_commit(
    tmp_path: Path, files: dict[str, bytes], error: type[Exception]
) -> None:
    c = Client.init(tmp_path / "s")
    c.create_repo("r")
    head = c.put_file("r", "main", "/f", b"1").id
    data = b"".join(batch.iter_batch((p, len(d), [d]) for p, d in files.items()))
    with pytest.raises(error):
        c.put_batch("r", "main", "/", io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]
    cut = _stream({"ok": b"fine"})[:-3]
    with pytest.raises(batch.BadBatch):
        c.put_batch("r", "main", "/", io.BufferedReader(io.BytesIO(cut)))  # type: ignore[arg-type]
    assert c.inspect_branch("r", "main").head == head
    assert c.list_open_commits("r") == []


def test_extract_never_writes_outside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for bad in ("../outside", "a/../../outside"):
        data = b"".join(batch.iter_batch([(bad, 1, [b"x"])]))
        with pytest.raises(errors.DatavcError):
            batch.extract_batch(io.BufferedReader(io.BytesIO(data)), root)  # type: ignore[arg-type]
    assert not (tmp_path / "outside").exists()
    (root).mkdir(exist_ok=True)
    (root / "link").symlink_to(tmp_path)
    data = b"".join(batch.iter_batch([("link/outside", 1, [b"x"])]))
    with pytest.raises(errors.DatavcError):
        batch.extract_batch(io.BufferedReader(io.BytesIO(data)), root)  # type: ignore[arg-type]
    assert not (tmp_path / "outside").exists()


def test_put_batch_in_any_order_stores_the_same_tree(tmp_path: Path) -> None:
    """A sender's walk order is built as it comes; any other order is sorted first: same tree."""
    c = Client.init(tmp_path / "s")
    c.create_repo("r")
    files = {f"d{i}/{n}": bytes([i]) * (i + 1) for i in range(3) for n in ("a", "a.b", "a-c", "b")}
    files["d1/a/z"] = b"nested"  # tree order puts d1/a/z after d1/a-c and d1/a.b: "/" is lowest
    files.pop("d1/a")
    ordered = sorted(files, key=lambda p: p.split("/"))
    for k, order in enumerate((ordered, list(reversed(ordered)), sorted(files))):
        data = b"".join(batch.iter_batch((p, len(files[p]), [files[p]]) for p in order))
        c.put_batch("r", "main", f"/{k}", io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]
        got = batch.members(io.BufferedReader(io.BytesIO(b"".join(c.iter_batch("r", "main", f"/{k}")))))  # type: ignore[arg-type]
        assert [(p, f.read()) for p, _, f in got] == [(p, files[p]) for p in ordered]  # in tree order


def test_batch_pieces_from_a_reused_buffer_and_a_file_that_shrank(tmp_path: Path) -> None:
    buf = bytearray(b"first")
    view = memoryview(buf)

    def pieces() -> Iterator[memoryview]:
        yield view
        buf[:] = b"XXXXX"  # the maker reuses its buffer once the piece was taken

    data = b"".join(batch.iter_batch([("f", 5, pieces())]))
    assert _members(data) == {"f": b"first"}
    small = tmp_path / "small"
    small.write_bytes(b"abc")
    with pytest.raises(errors.InvalidArgument, match="changed while being read"):
        b"".join(batch.iter_batch([("small", 10, batch.file_pieces(str(small), 10, None))]))
    with pytest.raises(errors.InvalidArgument, match="cannot read"):
        batch.file_pieces(str(tmp_path / "gone"), 3, None)
