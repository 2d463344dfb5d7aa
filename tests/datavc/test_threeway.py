"""The merge laws of ``datavc/threeway.py``, with hypothesis, on real trees in a memory store.

- merging a tree with itself changes nothing;
- a merge is symmetric up to strategy (A into B taking theirs = B into A keeping ours);
- the result holds every non-conflicting change of both sides.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datavc.threeway import Side, compare, resolver
from storage.backends.memory import MemoryBackend
from storage.store import ObjectStore

Files = dict[str, bytes]

NAMES = st.sampled_from(["a", "b", "c"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)
CONTENT = st.sampled_from([b"1", b"2", b"33", b""])
EDITS = st.lists(st.tuples(PATHS, st.none() | CONTENT), max_size=6)


@pytest.fixture(scope="module")
def store() -> Iterator[ObjectStore]:
    s = ObjectStore.init(MemoryBackend())
    yield s
    s.close()


def related(p: str, q: str) -> bool:
    """One path is the other or lies below it."""
    return p == q or p.startswith(q + "/") or q.startswith(p + "/")


def edit(files: Files, edits: list[tuple[str, bytes | None]]) -> Files:
    """``files`` with each (path, content) put, or (path, None) deleted; a put replaces what is in its way."""
    out = dict(files)
    for path, data in edits:
        if data is None:
            for p in [p for p in out if p == path or p.startswith(path + "/")]:
                del out[p]
        else:
            for p in [p for p in out if related(p, path)]:
                del out[p]
            out[path] = data
    return out


def tree(store: ObjectStore, files: Files) -> str:
    with store.writer() as w:
        return w.update_tree(
            store.empty_tree(), {p: w.put_bytes(d, p.rsplit("/", 1)[-1]) for p, d in files.items()}
        )


def read(store: ObjectStore, root: str) -> Files:
    return {p: store.read_bytes(e) for p, e in store.walk(root)}


def merged(
    store: ObjectStore, base: Files, ours: Files, theirs: Files, side: Side | None
) -> tuple[Files, set[str]]:
    """The merge result and the conflicting paths (the result is ours when there are conflicts)."""
    b, o, t = tree(store, base), tree(store, ours), tree(store, theirs)
    tw = compare(store.trees, b, o, t, resolver(side))
    with store.writer() as w:
        result = tw.apply(w, o)
    return read(store, result), {c.path.lstrip("/") for c in tw.conflicts}


#: Each law's examples (the CI profile's 50 would cost seconds the suite's budget does not have).
FEW = settings(max_examples=25)


@FEW
@given(base=EDITS, edits=EDITS)
def test_merging_a_tree_with_itself_changes_nothing(store: ObjectStore, base: list, edits: list) -> None:
    b = edit({}, base)
    x = edit(b, edits)
    result, conflicts = merged(store, b, x, x, None)
    assert (result, conflicts) == (x, set())
    result, conflicts = merged(store, x, x, x, None)
    assert (result, conflicts) == (x, set())


@FEW
@given(base=EDITS, a=EDITS, b=EDITS)
def test_merge_is_symmetric_up_to_strategy(store: ObjectStore, base: list, a: list, b: list) -> None:
    root = edit({}, base)
    ta, tb = edit(root, a), edit(root, b)
    plain_ab, conflicts_ab = merged(store, root, tb, ta, None)
    plain_ba, conflicts_ba = merged(store, root, ta, tb, None)
    assert conflicts_ab == conflicts_ba
    if not conflicts_ab:
        assert plain_ab == plain_ba
    # A into B taking theirs (A) everywhere = B into A keeping ours (A); and the mirror image.
    assert merged(store, root, tb, ta, "theirs")[0] == merged(store, root, ta, tb, "ours")[0]
    assert merged(store, root, tb, ta, "ours")[0] == merged(store, root, ta, tb, "theirs")[0]


@FEW
@given(base=EDITS, a=EDITS, b=EDITS, side=st.sampled_from(["ours", "theirs"]))
def test_merge_holds_every_non_conflicting_change(
    store: ObjectStore, base: list, a: list, b: list, side: Side
) -> None:
    root = edit({}, base)
    ours, theirs = edit(root, a), edit(root, b)
    _, conflicts = merged(store, root, ours, theirs, None)
    result, _ = merged(store, root, ours, theirs, side)

    def free(p: str) -> bool:
        return not any(related(p, q) for q in conflicts)

    for side_files in (ours, theirs):
        changed = {p for p in set(root) | set(side_files) if root.get(p) != side_files.get(p)}
        for p in filter(free, changed):
            assert result.get(p) == side_files.get(p), p
    # and what neither side changed stays as it was
    for p in filter(free, root):
        if ours.get(p) == theirs.get(p) == root[p]:
            assert result.get(p) == root[p]
    # a conflict is decided for the chosen side, path by path
    winner = ours if side == "ours" else theirs
    for q in conflicts:
        assert {p: d for p, d in result.items() if related(p, q)} == {
            p: d for p, d in winner.items() if related(p, q)
        }
