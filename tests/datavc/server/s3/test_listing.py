"""Listing order and seeking: keys come in S3 byte order from any start, whatever the names."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from datavc.server.s3.listing import walk
from storage.tree import TreeBuilder, tree_order
from tests.storage.test_tree import _consistent, _file, _trees

names = st.text(alphabet="ab-./_~ Z0", min_size=1, max_size=4).filter(lambda s: s not in (".", ".."))
file_sets = st.dictionaries(st.lists(names, min_size=1, max_size=3).map("/".join), st.just("x"), max_size=30)


def _keys(files: dict[str, str], after: str, delimited: bool) -> list[str]:
    trees, _ = _trees()
    b = TreeBuilder(trees)
    for path in sorted(files, key=tree_order):
        b.add(path, _file(path.rsplit("/", 1)[-1], files[path]))
    root = b.finish()
    return [i.key for i in walk(trees, root, "main/", "", after, delimited=delimited, commit="c")]


@given(file_sets, st.data())
def test_keys_come_in_byte_order_from_any_start(files: dict[str, str], data: st.DataObject) -> None:
    files = _consistent(files)
    want = sorted(f"main/{p}" for p in files)
    assert _keys(files, "", False) == want
    if want:
        after = data.draw(st.sampled_from(want))
        assert _keys(files, after, False) == [k for k in want if k > after]


@given(file_sets)
def test_delimited_listing_rolls_up_directories(files: dict[str, str]) -> None:
    files = _consistent(files)
    top = set()
    for p in files:
        head, sep, _ = p.partition("/")
        top.add(f"main/{head}{sep}")
    assert _keys(files, "", True) == sorted(top)
