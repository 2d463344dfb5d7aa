"""Trees: encode/decode, canonical form, incremental updates, streaming diff, costs."""

from __future__ import annotations

import random

import xxhash
from hypothesis import given
from hypothesis import strategies as st

from storage.model import DIR, FILE, DataRef, Entry
from storage.tree import SMALL_DIR, TreeBuilder, Trees, decode_page, encode_page, tree_order


class CountingObjects:
    """An in-memory object map that counts reads and new writes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads = 0
        self.new_writes = 0

    def read(self, oid: str) -> bytes:
        self.reads += 1
        return self.objects[oid]

    def write(self, data: bytes) -> str:
        oid = xxhash.xxh3_128_hexdigest(data)
        if oid not in self.objects:
            self.new_writes += 1
            self.objects[oid] = data
        return oid


def _trees() -> tuple[Trees, CountingObjects]:
    objs = CountingObjects()
    return Trees(objs.read, objs.write), objs


def _file(name: str, content: str) -> Entry:
    data = content.encode()
    h = xxhash.xxh3_128_hexdigest(data)
    return Entry(name, FILE, len(data), h, (DataRef(h, 0, len(data)),))


# Valid names: no surrogates (not UTF-8), no control characters (Cc: NUL, newline, ESC...), no '/'.
names = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="/"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
paths = st.lists(names, min_size=1, max_size=3).map("/".join)
file_sets = st.dictionaries(paths, st.text(max_size=8), max_size=40)


def _consistent(files: dict[str, str]) -> dict[str, str]:
    """Drop paths that would need a name to be both a file and a directory."""
    out: dict[str, str] = {}
    for path in sorted(files, key=tree_order):
        parts = path.split("/")
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if prefixes & out.keys() or any(p.startswith(path + "/") for p in out):
            continue
        out[path] = files[path]
    return out


def _build(trees: Trees, files: dict[str, str]) -> str:
    b = TreeBuilder(trees)
    for path in sorted(files, key=tree_order):
        b.add(path, _file(path.rsplit("/", 1)[-1], files[path]))
    return b.finish()


@given(file_sets)
def test_encode_decode_round_trip(files: dict[str, str]) -> None:
    entries = [_file(n.replace("/", "_"), c) for n, c in files.items()]
    entries = sorted({e.name: e for e in entries}.values(), key=lambda e: e.name)
    entries.append(Entry("\uffff-dir", DIR, 10, "f" * 32, (), 3))
    entries.sort(key=lambda e: e.name)  # a page holds its names in order (decoding checks it)
    page = decode_page(encode_page(0, entries))
    assert page.items == entries


@given(file_sets, st.randoms(use_true_random=False))
def test_tree_id_does_not_depend_on_insertion_order(files: dict[str, str], rnd: random.Random) -> None:
    files = _consistent(files)
    trees, _ = _trees()
    built = _build(trees, files)
    root = trees.empty()
    items = list(files.items())
    rnd.shuffle(items)
    for path, content in items:  # one path at a time, in random order
        root = trees.update(root, {path: _file("x", content)})
    assert root == built
    assert [(p, e.hash) for p, e in trees.walk(root)] == [
        (p, _file("x", files[p]).hash) for p in sorted(files, key=tree_order)
    ]


@given(file_sets, file_sets)
def test_applying_diff_a_b_to_a_gives_b(a_files: dict[str, str], b_files: dict[str, str]) -> None:
    a_files, b_files = _consistent(a_files), _consistent(b_files)
    trees, _ = _trees()
    a, b = _build(trees, a_files), _build(trees, b_files)
    diff = list(trees.diff(a, b))
    assert trees.update(a, {d.path: d.new for d in diff}) == b
    assert {d.path for d in diff if d.new is not None} <= set(b_files)
    assert list(trees.diff(a, a)) == []


def test_incremental_updates_equal_a_fresh_build_across_page_splits() -> None:
    rnd = random.Random(7)
    trees, _ = _trees()
    for n in [0, 10, SMALL_DIR, SMALL_DIR + 5, 5000]:
        state: dict[str, Entry] = {}
        for _ in range(n):
            k = f"f{rnd.randrange(10**7):07d}"
            state[k] = _file(k, str(rnd.random()))
        root = trees.build_dir(e for _, e in sorted(state.items()))
        for _ in range(6):
            changes: dict[str, Entry | None] = {}
            for _ in range(rnd.choice([1, 7, 300])):
                if state and rnd.random() < 0.4:
                    changes[rnd.choice(sorted(state))] = None
                else:
                    k = f"f{rnd.randrange(10**7):07d}"
                    changes[k] = _file(k, str(rnd.random()))
            for k, v in changes.items():
                if v is None:
                    state.pop(k, None)
                else:
                    state[k] = v
            root = trees.update_dir(root, sorted(changes.items()))
            assert root == trees.build_dir(e for _, e in sorted(state.items()))
            assert [e.name for e in trees.iter_dir(root)] == sorted(state)


def test_changing_k_files_of_a_flat_directory_writes_o_k_log_n_objects() -> None:
    trees, objs = _trees()
    n = 200_000
    b = TreeBuilder(trees)
    for i in range(n):
        b.add(f"file{i:07d}", _file(f"file{i:07d}", str(i)))
    root = b.finish()
    height = trees.load(root).h
    assert height >= 2
    for k in [1, 10, 100]:
        objs.new_writes = 0
        rnd = random.Random(k)
        changes = {f"file{rnd.randrange(n):07d}": _file("x", f"changed {k} {i}") for i in range(k)}
        new_root = trees.update(root, changes)
        assert objs.new_writes <= k * (height + 2) + 2, (k, objs.new_writes)
        objs.reads = 0
        diff = list(trees.diff(root, new_root))
        assert {d.path for d in diff} == set(changes)
        assert objs.reads <= 4 * k * (height + 2) + 4, (k, objs.reads)  # follows changes, not n


def test_diff_skips_shared_subdirectories() -> None:
    trees, objs = _trees()
    files = {f"d{i}/f{j}": f"{i}-{j}" for i in range(200) for j in range(20)}
    a = _build(trees, files)
    b = trees.update(a, {"d5/f3": _file("f3", "changed")})
    objs.reads = 0
    trees._cache.clear()
    assert [(d.path, d.status) for d in trees.diff(a, b)] == [("d5/f3", "modified")]
    assert objs.reads <= 6


def test_totals_and_lookup() -> None:
    trees, _ = _trees()
    root = _build(trees, {"a/b/c": "123", "a/d": "45", "e": ""})
    assert trees.totals(root) == (2, 3, 5)
    assert trees.get(root, "a").count == 2  # type: ignore[union-attr]
    assert trees.get(root, "a").size == 5  # type: ignore[union-attr]
    assert trees.get(root, "a/b/c").size == 3  # type: ignore[union-attr]
    assert trees.get(root, "a/x") is None
    assert trees.get(root, "e/f") is None


def _flat_runs(trees: Trees, root: str, prefix: str = "") -> list[tuple[str, int, str]]:
    runs = list(trees.walk_runs(root, prefix))
    assert all(paths for paths, _, _ in runs)
    return [row for run in runs for row in zip(*run, strict=True)]


@given(file_sets)
def test_walk_runs_is_walk_in_runs(files: dict[str, str]) -> None:
    trees, _ = _trees()
    root = _build(trees, _consistent(files))
    want = [(p, e.size, e.hash) for p, e in trees.walk(root, "p/")]
    assert _flat_runs(trees, root, "p/") == want
    trees._cache.clear()  # pages as decoded (files kept as columns), not as built
    assert _flat_runs(trees, root, "p/") == want


def test_walk_runs_of_a_big_directory_between_files() -> None:
    trees, _ = _trees()
    files = {f"big/{i:05d}": str(i) for i in range(3 * SMALL_DIR)}
    files.update({"a": "a", "big.txt": "b", "big/00001.x/in": "c", "z": "z"})
    root = _build(trees, files)
    trees._cache.clear()
    want = [(p, e.size, e.hash) for p, e in trees.walk(root)]
    assert len(want) == len(files)
    trees._cache.clear()
    assert _flat_runs(trees, root) == want


def test_a_page_of_files_decodes_to_the_entries_it_was_built_from() -> None:
    trees, objs = _trees()
    entries = [_file(f"f{i:04d}", str(i)) for i in range(300)]
    root = trees.build_dir(entries)
    page = decode_page(objs.objects[root], root)
    assert page.totals() == (300, 300, sum(e.size for e in entries))
    assert page.items == entries
    assert page.totals() == (300, 300, sum(e.size for e in entries))
