"""``Trees.iter_dir_from``: a directory's entries from a name on, reading only the pages needed."""

from __future__ import annotations

from storage.tree import Trees
from tests.storage.test_tree import _file, _trees


def _flat(trees: Trees, n: int) -> str:
    return trees.build_dir([_file(f"f{i:05d}", str(i)) for i in range(n)])


def test_iter_dir_from_equals_a_filtered_full_listing() -> None:
    trees, _ = _trees()
    root = _flat(trees, 5000)
    names = [e.name for e in trees.iter_dir(root)]
    for start in ("", "f00000", "f02500", "f02500x", "f04999", "f05000", "g", "a"):
        assert [e.name for e in trees.iter_dir_from(root, start)] == [n for n in names if n >= start]


def test_iter_dir_from_reads_few_pages() -> None:
    trees, objs = _trees()
    root = _flat(trees, 20000)
    fresh = Trees(objs.read, objs.write)  # a cold page cache
    objs.reads = 0
    first = next(fresh.iter_dir_from(root, "f15000"))
    assert first.name == "f15000"
    assert objs.reads <= 6  # one page per level, not every page before the start
