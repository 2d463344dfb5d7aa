"""Export: writes and removals stay inside the target root, whatever the destination holds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.errors import AlreadyExists, Conflict, InvalidArgument
from datavc.export import Exporter, is_temp_name
from datavc.workdir import META


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with Client.init(tmp_path / "store") as c:
        c.create_repo("r")
        c.put_file("r", "main", "/sub/x.txt", b"new x\n")
        c.put_file("r", "main", "/top.txt", b"top\n")
        yield c


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "x.txt").write_bytes(b"outside x\n")
    return d


def test_a_link_in_the_destination_pointing_out_is_refused(
    client: Client, tmp_path: Path, outside: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside)
    with pytest.raises(InvalidArgument, match="outside"):
        client.get_to_path("r", "main", "/", out)
    assert (outside / "x.txt").read_bytes() == b"outside x\n"
    assert sorted(p.name for p in outside.iterdir()) == ["x.txt"]  # not even a temp file


def test_a_link_in_the_destination_pointing_inside_is_followed(client: Client, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "real").mkdir(parents=True)
    (out / "sub").symlink_to(out / "real")
    assert client.get_to_path("r", "main", "/", out) == 2
    assert (out / "real" / "x.txt").read_bytes() == b"new x\n"


def test_a_link_at_the_target_is_replaced_not_written_through(
    client: Client, tmp_path: Path, outside: Path
) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "x.txt").symlink_to(outside / "x.txt")
    client.get_to_path("r", "main", "/", out)
    assert (outside / "x.txt").read_bytes() == b"outside x\n"
    assert not (out / "sub" / "x.txt").is_symlink()
    assert (out / "sub" / "x.txt").read_bytes() == b"new x\n"


def test_checkout_never_removes_through_a_link_out_of_the_root(
    client: Client, tmp_path: Path, outside: Path
) -> None:
    co = tmp_path / "co"
    client.checkout("r", "main", co)
    # the user replaces a checked-out directory by a link out of the checkout ...
    (co / "sub" / "x.txt").unlink()
    (co / "sub").rmdir()
    (co / "sub").symlink_to(outside)
    # ... and the branch deletes the file that was under it
    client.delete_file("r", "main", "/sub/x.txt")
    with pytest.raises(InvalidArgument, match="outside"):
        client.checkout("r", "main", co, force=True)
    assert (outside / "x.txt").read_bytes() == b"outside x\n"


def test_a_tree_path_inside_the_checkout_metadata_is_refused(client: Client, tmp_path: Path) -> None:
    client.put_file("r", "main", f"/{META}/state.json", b'{"home": "/elsewhere"}')
    with pytest.raises(Conflict, match=META):
        client.checkout("r", "main", tmp_path / "co")


def test_removal_prunes_empty_directories_but_never_the_root(client: Client, tmp_path: Path) -> None:
    root = tmp_path / "root"
    out = Exporter(client.context.store, root)
    entry = client.context.store.get_entry(client.inspect_commit("r", "main").tree, "sub/x.txt")
    assert entry is not None
    out.write("a/b/x.txt", entry)
    assert out.remove("a/b/x.txt")
    assert root.is_dir() and list(root.iterdir()) == []
    assert not out.remove("a/b/x.txt")


def test_get_o_destinations(client: Client, tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.write_bytes(b"keep\n")
    with pytest.raises(AlreadyExists):
        client.get_to_path("r", "main", "/sub", existing)
    assert existing.read_bytes() == b"keep\n"
    with pytest.raises(AlreadyExists):
        client.get_to_path("r", "main", "/sub", os.devnull)
    # a file into an existing directory goes under its own name, as cp does
    d = tmp_path / "d"
    d.mkdir()
    client.get_to_path("r", "main", "/top.txt", d)
    assert (d / "top.txt").read_bytes() == b"top\n"
    # onto an existing file: replaced; onto a device: streamed into it
    client.get_to_path("r", "main", "/top.txt", existing)
    assert existing.read_bytes() == b"top\n"
    assert client.get_to_path("r", "main", "/top.txt", os.devnull) == 1
    with pytest.raises(InvalidArgument, match="no such directory"):
        client.get_to_path("r", "main", "/top.txt", tmp_path / "missing" / "f")
    assert not [p for p in tmp_path.rglob("*") if is_temp_name(p.name)]
