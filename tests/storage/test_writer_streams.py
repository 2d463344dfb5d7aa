"""``Writer.iter_put_streams``: files arriving as (path, size, stream), stored as a directory put does."""

from __future__ import annotations

import io
import os

import pytest

from storage.errors import InvalidInput
from storage.store import ObjectStore


def test_streams_store_small_packed_and_large_chunked_and_reuse_a_base(mem_store: ObjectStore) -> None:
    files = {"a/small.txt": b"s" * 100, "a/tiny": b"", "b/large.bin": os.urandom(300_000)}
    items = [(p, len(d), io.BytesIO(d)) for p, d in files.items()]
    with mem_store.writer() as w:
        pairs = list(w.iter_put_streams(items))
        tree = w.build_tree(pairs, sort=True)
    assert [p for p, _ in pairs] == list(files)
    for path, data in files.items():
        entry = mem_store.get_entry(tree, path)
        assert entry is not None and mem_store.read_bytes(entry) == data
    # the same files again over a base tree: unchanged entries are reused, not stored anew
    with mem_store.writer() as w:
        again = dict(w.iter_put_streams([(p, len(d), io.BytesIO(d)) for p, d in files.items()], tree))
        assert w.stats.objects_written == 0
    assert again["a/small.txt"] == mem_store.get_entry(tree, "a/small.txt")


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "a//b", "", "/", "a\x00b"])
def test_streams_refuse_paths_the_store_refuses(mem_store: ObjectStore, bad: str) -> None:
    with mem_store.writer() as w, pytest.raises(InvalidInput):
        list(w.iter_put_streams([(bad, 1, io.BytesIO(b"x"))]))
