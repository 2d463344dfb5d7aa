"""Tree packs (``storage.treepack``): datum output trees in one object, found through the
store's ``tree_locator``; nothing read from a pack is trusted."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import treepack
from storage.errors import CorruptObject, MalformedTree, ObjectNotFound
from storage.store import ObjectStore


def _packed(tmp_path: Path) -> tuple[ObjectStore, list[str], str]:
    store = ObjectStore.init(str(tmp_path / "objects"))
    sets = [[("out.txt", f"datum {i}\n".encode())] for i in range(20)] + [[("a", b"same")], [("a", b"same")]]
    with store.writer(group_sync=True) as w:
        trees, pack = w.put_file_sets(sets, tree_pack=True)
    assert pack is not None
    return ObjectStore.init(str(tmp_path / "objects")), trees, pack


def test_roots_go_into_one_pack_and_are_read_through_the_locator(tmp_path: Path) -> None:
    store, trees, pack = _packed(tmp_path)
    # No tree is an object of its own: one pack for them (and one for the files).
    assert not any(store.backend.exists(t) for t in trees)
    assert len(list(store.backend.iter_ids())) == 2
    with pytest.raises(ObjectNotFound):
        store.trees.load(trees[0])  # nobody says where it is
    store.tree_locator = {t: pack for t in trees}.get
    assert trees[-1] == trees[-2]  # the same output: the same page, packed once
    for i, t in enumerate(trees[:20]):
        assert [(p, store.read_bytes(e)) for p, e in store.walk(t)] == [("out.txt", f"datum {i}\n".encode())]


def test_a_damaged_or_wrong_pack_is_refused(tmp_path: Path) -> None:
    store, trees, pack = _packed(tmp_path)
    data = store.get_object(pack)
    digest = store.algorithm.digest
    assert set(treepack.index(data, digest)) == set(trees)
    huge = data[:9] + b"\xff\xff\xff\xff" + data[13:]
    for bad in (data[:-3], data + b"\x00", b"XXTPACK1\n" + data[9:], huge):
        with pytest.raises(MalformedTree):
            treepack.index(bad, digest)
    # A page that is not a tree page is refused, even with a correct length.
    with pytest.raises(MalformedTree):
        treepack.index(treepack.encode([b"not a tree"]), digest)
    # A locator naming the wrong pack (or a pack that lies) gives no page, never other bytes.
    other = ObjectStore.init(str(tmp_path / "objects"))
    with other.writer() as w:
        _, other_pack = w.put_file_sets([[("x", b"other")]], tree_pack=True)
    assert other_pack is not None
    other.tree_locator = {trees[0]: other_pack}.get
    with pytest.raises(ObjectNotFound):
        other.trees.load(trees[0])
    # A locator that names a packed page (or the page itself) as the pack: not found, no loop.
    other.tree_locator = {trees[0]: trees[1], trees[1]: trees[0], trees[2]: trees[2]}.get
    for t in trees[:3]:
        with pytest.raises(ObjectNotFound):
            other.trees.load(t)
    # A pack rewritten on disk fails its own hash check.
    path = store.backend.object_path(pack)  # type: ignore[attr-defined]
    path.chmod(0o644)
    path.write_bytes(data.replace(b"out.txt", b"out.txu"))
    fresh = ObjectStore.init(str(tmp_path / "objects"))
    fresh.tree_locator = {t: pack for t in trees}.get
    with pytest.raises(CorruptObject):
        fresh.trees.load(trees[0])
