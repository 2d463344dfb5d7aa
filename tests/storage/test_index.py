"""Index objects (``storage/index.py``): a large file's refs live outside its tree page.

Stores here cut tiny chunks (64 bytes to 1 KiB) so a file of a few hundred KiB has more refs than
``INLINE_MAX``; ``PAGE_MAX`` is lowered where a test needs an index several pages tall.
"""

from __future__ import annotations

import io
import json
import random

import pytest

from storage import index
from storage.backends.memory import MemoryBackend
from storage.chunking import ChunkParams
from storage.errors import CorruptObject, MalformedIndex, MalformedTree
from storage.model import FILE, DataRef, Entry
from storage.store import ObjectStore
from storage.tree import MAGIC as TREE_MAGIC

TINY = ChunkParams(64, 256, 1024)


def _data(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.fixture
def store() -> ObjectStore:
    return ObjectStore.init(MemoryBackend(), chunking=TINY)


def _put(store: ObjectStore, data: bytes, path: str = "big.bin") -> tuple[str, Entry]:
    with store.writer() as w:
        e = w.put_stream(io.BytesIO(data), path.rsplit("/", 1)[-1])
        root = w.build_tree([(path, e)])
    return root, e


def test_a_large_file_gets_an_index_object_and_reads_back(store: ObjectStore) -> None:
    data = _data(200_000)
    root, e = _put(store, data, "d/big.bin")
    assert e.index and e.refs == ()
    refs = list(store.iter_refs(e))
    assert len(refs) > index.INLINE_MAX and sum(r.length for r in refs) == len(data)
    got = store.get_entry(root, "d/big.bin")
    assert got == e  # the tree entry holds the index id, not the refs
    assert len(store.backend.get(root)) < 1000  # ...so the tree page stays small
    assert store.read_bytes(got) == data
    for start, length in [(0, 1), (12_345, 40_000), (len(data) - 7, 7), (99_999, 0)]:
        assert store.read_bytes(got, start, length) == data[start : start + length]
    with store.open_file(got) as f:
        f.seek(150_000)
        assert f.read(1000) == data[150_000:151_000]
    # A small file next to it keeps inline refs (old trees and small files read as before).
    with store.writer() as w:
        small = w.put_bytes(_data(1000, 2), "small")
        root2 = w.update_tree(root, {"d/small": small})
    assert store.get_entry(root2, "d/small") == small and small.refs and not small.index
    assert {p: store.read_bytes(x) for p, x in store.walk(root2)} == {
        "d/big.bin": data,
        "d/small": _data(1000, 2),
    }


def test_a_tall_index_round_trips_and_dedups(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "PAGE_MAX", 4)  # 4 refs per page: ~1,500 refs make 6 levels
    data = _data(200_000, 3)
    root, e = _put(store, data)
    seen: list[str] = []
    refs = list(index.iter_refs(store.get_object, e.index, e.size, pages=seen.append))
    assert len(seen) > len(refs) // 4 and index.MAX_HEIGHT >= 4
    assert store.read_bytes(e) == data
    edited = data[:100_000] + b"X" + data[100_001:]
    root2, e2 = _put(store, edited)
    assert e2.index != e.index and store.read_bytes(e2) == edited
    diff = list(store.diff(root, root2))
    assert [(d.path, d.status) for d in diff] == [("big.bin", "modified")]
    # Re-putting the same content writes nothing: same chunks, same index pages, same tree.
    with store.writer() as w:
        again = w.put_stream(io.BytesIO(data), "big.bin")
    assert again == e and w.stats.objects_written == 0


def test_reachability_includes_index_pages_and_chunks(store: ObjectStore) -> None:
    data = _data(100_000, 4)
    root, e = _put(store, data)
    objects = dict(store.trees.iter_objects(root))
    assert objects[e.index] is True  # a metadata object, like a tree page
    assert {r.oid for r in store.iter_refs(e)} <= {o for o, is_tree in objects.items() if not is_tree}
    assert set(objects) == set(store.backend.iter_ids())  # everything stored is reachable
    assert store.fsck([root]).ok


def test_fsck_finds_a_missing_or_corrupt_index_object(store: ObjectStore) -> None:
    root, e = _put(store, _data(100_000, 5))
    data = store.backend.get(e.index)
    store.backend.delete(e.index)
    report = ObjectStore.open(store.backend).fsck([root])
    assert report.missing == [e.index]
    store.backend.put(e.index, data[:-1] + b"]")
    report = ObjectStore.open(store.backend).fsck([root])
    assert e.index in report.corrupt
    with pytest.raises(CorruptObject):
        ObjectStore.open(store.backend).read_bytes(e)


def _leaf(flat: list[object]) -> bytes:
    return index.MAGIC + json.dumps({"h": 0, "r": flat}).encode()


def _inner(h: int, flat: list[object]) -> bytes:
    return index.MAGIC + json.dumps({"h": h, "c": flat}).encode()


def _raw(store: ObjectStore, data: bytes) -> str:
    oid = store.algorithm.digest(data)
    store.backend.put(oid, data)
    return oid


def _hostile_cases(store: ObjectStore) -> dict[str, tuple[bytes, int]]:
    """name -> (root index page bytes, the size the tree entry claims)."""
    chunk = _raw(store, b"0123456789")
    good = _raw(store, _leaf([chunk, 0, 10, chunk, 0, 10]))
    return {
        "negative offset": (_leaf([chunk, -5, 10]), 10),
        "float length": (_leaf([chunk, 0, 10.0]), 10),
        "bad id": (_leaf(["../../etc/passwd", 0, 10]), 10),
        "more bytes than the entry": (_leaf([chunk, 0, 10, chunk, 0, 10]), 15),
        "fewer bytes than the entry": (_leaf([chunk, 0, 10]), 25),
        "offset past the object": (_leaf([chunk, 8, 10]), 10),
        "child declares other bytes (overlap)": (_inner(1, [good, 2, 30]), 30),
        "child declares other refs": (_inner(1, [good, 3, 20]), 20),
        "huge ref count": (_inner(1, [good, 10**15, 20]), 20),
        "huge child count": (_inner(1, [good, 2, 20] * (index.PAGE_MAX + 1)), 20 * (index.PAGE_MAX + 1)),
        "wrong child height": (_inner(2, [good, 2, 20]), 20),
        "too tall": (_inner(99, [good, 2, 20]), 20),
        "empty page": (_leaf([]), 10),
        "not json": (index.MAGIC + b"{", 10),
        "not an index": (TREE_MAGIC + b'{"h":0,"i":[]}', 10),
        "ragged triples": (_leaf([chunk, 0]), 10),
    }


@pytest.mark.parametrize("case", sorted(_hostile_cases(ObjectStore.init(MemoryBackend()))))
def test_a_hostile_index_is_refused_as_corrupt(store: ObjectStore, case: str) -> None:
    body, size = _hostile_cases(store)[case]
    oid = _raw(store, body)
    content_hash = store.algorithm.digest(b"whatever")
    e = Entry("f", FILE, size, content_hash, (), 1, oid)
    with store.writer() as w:
        root = w.build_tree([("f", e)])  # a tree page naming a hostile index decodes fine...
    got = store.get_entry(root, "f")
    assert got is not None and got.index == oid
    with pytest.raises(CorruptObject):  # ...but no read gets past the index
        store.read_bytes(got)
    if case == "offset past the object":
        return  # a well-formed index: the short object is caught when the chunk is read (above)
    with pytest.raises(CorruptObject):
        list(store.trees.iter_objects(root))  # gc and fsck walk this: they stop, never mark half
    assert not store.fsck([root]).ok


def test_the_refs_an_index_yields_before_a_bad_page_are_bounded() -> None:
    store = ObjectStore.init(MemoryBackend())
    chunk = _raw(store, b"abc")
    oid = _raw(store, _leaf([chunk, 0, 3] * 5))
    with pytest.raises(MalformedIndex, match="more than the 6 bytes"):
        list(index.iter_refs(store.get_object, oid, 6))


def test_a_tree_entry_with_a_bad_index_id_is_a_malformed_tree(store: ObjectStore) -> None:
    items = [["f", "i", 10, "0" * 32, "not-an-id"]]
    data = TREE_MAGIC + json.dumps({"h": 0, "i": items}).encode()
    root = _raw(store, data)
    with pytest.raises(MalformedTree, match="index"):
        store.get_entry(root, "f")
    zero = [["f", "i", 0, "0" * 32, "0" * 32]]  # an indexed file of no bytes: never written
    with pytest.raises(MalformedTree):
        store.get_entry(_raw(store, TREE_MAGIC + json.dumps({"h": 0, "i": zero}).encode()), "f")


def test_write_index_builds_the_same_index_as_the_streaming_writer(store: ObjectStore) -> None:
    data = _data(80_000, 9)
    _root, e = _put(store, data)
    refs = list(store.iter_refs(e))
    with store.writer() as w:
        oid = index.write_index(refs, w._write_tree)
    assert oid == e.index
    assert refs[0] == DataRef(refs[0].oid, 0, refs[0].length)
