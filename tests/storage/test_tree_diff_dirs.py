"""``Trees.diff(..., dirs=True)``: directories added or deleted are changes too."""

from __future__ import annotations

import xxhash

from storage.model import DIR, FILE, DataRef, Entry
from storage.tree import Trees


def _trees() -> Trees:
    objects: dict[str, bytes] = {}

    def write(data: bytes) -> str:
        oid = xxhash.xxh3_128_hexdigest(data)
        objects[oid] = data
        return oid

    return Trees(objects.__getitem__, write)


def _file(name: str, content: str) -> Entry:
    h = xxhash.xxh3_128_hexdigest(content.encode())
    return Entry(name, FILE, len(content), h, (DataRef(h, 0, len(content)),))


def test_an_empty_directory_is_a_change_only_with_dirs() -> None:
    t = _trees()
    base = t.update(t.empty(), {"a/f": _file("f", "1"), "b": _file("b", "2")})
    empty_dir = Entry("e", DIR, 0, t.empty(), (), 0)
    with_empty = t.update_dir(base, [("e", empty_dir)])
    assert with_empty != base
    assert list(t.diff(base, with_empty)) == []  # no file changed
    assert [(d.path, d.old, d.new) for d in t.diff(base, with_empty, dirs=True)] == [("e", None, empty_dir)]
    assert [d.path for d in t.diff(with_empty, base, dirs=True)] == ["e"]


def test_dirs_lists_a_whole_added_or_deleted_subtree_and_a_kind_swap() -> None:
    t = _trees()
    old = t.update(t.empty(), {"x": _file("x", "file"), "k/f": _file("f", "1")})
    new = t.update(t.empty(), {"x/y/z": _file("z", "3"), "k/f": _file("f", "1")})
    files = {(d.path, d.status) for d in t.diff(old, new)}
    assert files == {("x", "deleted"), ("x/y/z", "added")}
    everything = {(d.path, d.status) for d in t.diff(old, new, dirs=True)}
    assert everything == files | {("x", "added"), ("x/y", "added")}
