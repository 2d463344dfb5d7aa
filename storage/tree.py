"""Trees: a commit's files as a persistent Merkle structure.

Each directory is a *prolly tree* over its entries sorted by name. Pages are cut after
every item whose name hashes to a boundary at that level (one in ``FANOUT`` on
average), so page boundaries depend only on the names around them: changing k of
n entries rewrites about k pages per level, O(k log n) objects in all, even for one
flat directory of a million files, and the same set of entries always gives the same
tree id whatever order it was built in. Directories of at most ``SMALL_DIR``
entries are kept in a single page. A directory entry carries its subtree's root id,
total size and file count, so diffs skip equal subtrees and sizes need no scan.

Page format: ``MAGIC`` then compact JSON ``{"h": height, "i": [items]}``; leaf items are
``[name, "f", size, hash, [oid, offset, length, ...]]``, ``[name, "i", size, hash, index id]``
(a large file whose refs are in an index object, :mod:`storage.index`) or
``[name, "d", size, root, count]``,
inner items ``[first name, page id, entries, files, bytes]``.
"""

from __future__ import annotations

import itertools
import json
import re
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import NamedTuple, TypeVar, cast

import xxhash

from storage import gcpause, index
from storage.errors import InvalidInput, MalformedTree, PathConflict
from storage.hashing import ObjectId
from storage.model import (
    DIR,
    FILE,
    MAX_NAME_BYTES,
    SHORT_PATH,
    DataRef,
    DiffEntry,
    Entry,
    name_problem,
    path_problem,
    split_path,
)

MAGIC = b"DVTREE1\n"
FANOUT = 256
_MASK = FANOUT - 1
SMALL_DIR = 1024
_CACHE_PAGES = 512
#: Decoded items kept in the page cache at most: ~300 bytes each, so ~40 MB. Pages of 1,000
#: files (a directory under SMALL_DIR is one page) would otherwise hold 512,000 entries.
_CACHE_ITEMS = 131_072


class Child(NamedTuple):
    """An inner page's pointer to the page below: its first name, id and totals."""

    name: str
    oid: ObjectId
    n: int
    files: int
    size: int


Item = Entry | Child
_NAME = attrgetter("name")
_SIZE = attrgetter("size")
_HASH = attrgetter("hash")
#: A run of files: their paths, sizes and content hashes.
Run = tuple[list[str], Sequence[int], Sequence[str]]
_I = TypeVar("_I", Entry, Child, Item)


def _totals(items: Sequence[Item]) -> tuple[int, int, int]:
    """(entries, files, bytes) below a page holding ``items``."""
    n = files = size = 0
    for it in items:
        if isinstance(it, Child):
            n += it.n
            files += it.files
        else:
            n += 1
            files += it.count
        size += it.size
    return n, files, size


#: A page of files as columns: names, sizes, content hashes and each file's one piece
#: ``[oid, offset, length]`` (as decoded).
FileColumns = tuple[Sequence[str], Sequence[int], Sequence[str], Sequence[list[object]]]


class LeafPage:
    """A page at height 0: the directory's entries themselves.

    A page of files decoded by the column-wise path keeps its columns and builds its
    :class:`Entry` tuples only when asked for them (a listing never does).
    """

    __slots__ = ("_items", "files", "h", "keys")

    def __init__(self, h: int, items: list[Entry] | None, keys: list[str], files: FileColumns | None = None):
        self.h = h
        self._items = items
        self.keys = keys
        self.files = files

    @property
    def items(self) -> list[Entry]:
        if self._items is None:
            assert self.files is not None
            names, sizes, hashes, extras = self.files
            refs = zip(map(_new, repeat(DataRef), extras))  # 1-tuples of one DataRef each
            n = len(names)
            with gcpause.paused():
                self._items = list(
                    map(
                        _new,
                        repeat(Entry),
                        zip(names, repeat(FILE, n), sizes, hashes, refs, repeat(1), repeat("")),
                    )
                )
        return self._items

    def totals(self) -> tuple[int, int, int]:
        if self._items is None and self.files is not None:
            return len(self.keys), len(self.keys), sum(self.files[1])
        return _totals(self.items)


@dataclass(slots=True)
class InnerPage:
    """A page above height 0: pointers to the pages one level below."""

    h: int
    items: list[Child]
    keys: list[str]

    def totals(self) -> tuple[int, int, int]:
        return _totals(self.items)


Page = LeafPage | InnerPage


def _page(h: int, items: list[Item]) -> Page:
    """The page of ``items`` built at height ``h`` (by our own builders, which keep the format's
    invariant: entries at height 0, children above)."""
    keys = [it.name for it in items]
    if h == 0:
        return LeafPage(h, cast(list[Entry], items), keys)
    return InnerPage(h, cast(list[Child], items), keys)


def is_tree_object(data: bytes) -> bool:
    return data.startswith(MAGIC)


def _boundary(name: str, h: int) -> bool:
    return xxhash.xxh3_64_intdigest(name.encode("utf-8"), seed=h) & _MASK == 0


def encode_page(h: int, items: Sequence[Item]) -> bytes:
    out: list[list[object]] = []
    if h == 0:
        for e in items:
            assert isinstance(e, Entry)
            if e.kind == DIR:
                out.append([e.name, "d", e.size, e.hash, e.count])
            elif e.index:
                out.append([e.name, "i", e.size, e.hash, e.index])
            else:
                flat: list[object] = []
                for r in e.refs:
                    flat += (r.oid, r.offset, r.length)
                out.append([e.name, "f", e.size, e.hash, flat])
    else:
        out = [[c.name, c.oid, c.n, c.files, c.size] for c in items if isinstance(c, Child)]
    return MAGIC + json.dumps({"h": h, "i": out}, separators=(",", ":"), ensure_ascii=False).encode()


def decode_page(data: bytes, oid: str = "?") -> Page:
    """A page from its stored bytes, checked by :func:`check_page`.

    Raises:
        MalformedTree: not a tree object, not a valid page, or an item fails the checks.
    """
    if not data.startswith(MAGIC):
        raise MalformedTree(oid, "not a tree object")
    try:
        doc = json.loads(data[len(MAGIC) :])
        h = int(doc["h"])
        if h < 0:
            raise ValueError(f"negative height {h}")
        if h == 0:
            fast = _decode_files(doc["i"])
            if fast is not None:
                return fast
            items: list[Entry] = []
            new, ref = tuple.__new__, DataRef._make  # the fast paths of the NamedTuple constructors
            append = items.append
            for name, kind, size, hsh, extra in doc["i"]:
                if kind == "d":
                    append(new(Entry, (name, DIR, size, hsh, (), extra, "")))
                elif kind == "f":
                    refs: tuple[DataRef, ...]
                    if type(extra) is list and len(extra) == 3:  # the common case: one chunk or slice
                        refs = (new(DataRef, extra),)
                    else:
                        it = iter(extra)
                        refs = tuple(map(ref, zip(it, it, it, strict=True)))
                    append(new(Entry, (name, FILE, size, hsh, refs, 1, "")))
                elif kind == "i":
                    append(new(Entry, (name, FILE, size, hsh, (), 1, extra)))
                else:
                    raise MalformedTree(oid, f"entry {name!r} has an unknown kind {kind!r}")
        else:
            children = [Child(*c) for c in doc["i"]]
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise MalformedTree(oid, f"not a valid tree page ({type(err).__name__}: {err})") from None
    page: Page = (
        LeafPage(h, items, [it.name for it in items])
        if h == 0
        else InnerPage(h, children, [c.name for c in children])
    )
    check_page(oid, page)
    return page


_new = tuple.__new__


def _decode_files(raw: object) -> LeafPage | None:
    """The common leaf page (only files of one inline piece each) decoded and checked column by
    column, with no Python code per entry; None for any other page (the general decoder then
    decodes it, and refuses it if it is malformed)."""
    if type(raw) is not list or not raw or set(map(type, raw)) != {list} or set(map(len, raw)) != {5}:
        return None
    names, kinds, sizes, hashes, extras = zip(*raw, strict=True)
    if set(kinds) != {"f"} or set(map(type, extras)) != {list} or set(map(len, extras)) != {3}:
        return None
    keys = list(names)
    if set(map(type, keys)) != {str} or not all(map(str.__lt__, keys, keys[1:])) or not _names_ok(keys):
        return None
    r_oids, offsets, lengths = zip(*extras, strict=True)
    if lengths != sizes or not _ids_ok(hashes) or not _ids_ok(r_oids) or not _nonneg(sizes):
        return None
    if not _nonneg(offsets) or not _nonneg(lengths):
        return None
    return LeafPage(0, None, keys, (names, sizes, hashes, extras))


# An object id or content hash: xxh3-128 (32 hex) or sha256 (64 hex). Checked here because ids
# from a tree become object paths and keys in the backends.
_ID_RE = re.compile(r"[0-9a-f]{32}(?:[0-9a-f]{32})?")
_MAX_HEIGHT = 32  # FANOUT**32 entries: far beyond any real directory


def check_page(oid: str, page: Page) -> None:
    """Refuse a decoded page that a correct writer could not have produced.

    Anything read from the store may come from a hostile writer (the bytes only have to hash
    to their id), and names and references drive file writes: every name must pass
    :func:`storage.model.name_problem` (no ``..``, ``/``, NUL, control characters, nothing
    over 255 bytes); names must be strictly sorted (no duplicates); sizes, counts, offsets
    and lengths must be non-negative integers and a file's pieces must add up to its size;
    ids must have the shape of ids. Valid pages pass column-wise checks that run mostly in C
    (decoding stays within ~1.5x of unchecked); only a failing page is walked item by item
    to say what is wrong.

    Raises:
        MalformedTree: naming ``oid`` and the first problem found.
    """
    if not 0 <= page.h <= _MAX_HEIGHT:
        raise MalformedTree(oid, f"impossible page height {page.h}")
    if page.h > 0 and not page.items:
        raise MalformedTree(oid, "an inner page without children")
    if not _page_ok(page):
        _explain(oid, page)
        raise MalformedTree(oid, "invalid page")  # _explain always raises; kept for safety


def _page_ok(page: Page) -> bool:
    """Column-wise checks of a whole page (no per-item Python code on the common paths)."""
    items = page.items
    if not items:
        return True
    names = page.keys
    if set(map(type, names)) != {str} or not all(map(str.__lt__, names, names[1:])):
        return False
    if page.h > 0:
        _, oids, *totals = zip(*items, strict=True)
        return _ids_ok(oids) and all(map(_nonneg, totals))
    _, kinds, sizes, hashes, refs, counts, indexes = zip(*items, strict=True)
    if not _names_ok(names) or not _ids_ok(hashes) or not _nonneg(sizes) or not _nonneg(counts):
        return False
    indexed = [x for x in indexes if x != ""]
    if indexed and not _ids_ok(indexed):
        return False
    pieces = [r for rs in refs for r in rs]
    if pieces:
        r_oids, offsets, lengths = zip(*pieces, strict=True)
        if not _ids_ok(r_oids) or not _nonneg(offsets) or not _nonneg(lengths):
            return False
        if len(pieces) == len(items) and set(kinds) == {FILE} and set(map(len, refs)) == {1}:
            return lengths == sizes  # the common page: files of one piece each
    # (the decoder gives directories no refs and every entry a known kind)
    return all(
        k is DIR or (sum(r[2] for r in rs) == n if not x else not rs and n > 0)
        for k, n, rs, x in zip(kinds, sizes, refs, indexes, strict=True)
    )


def _ids_ok(ids: Sequence[object]) -> bool:
    """Every value an id-shaped string: one pass over all of them joined, and a look at the lengths."""
    if set(map(type, ids)) != {str}:
        return False
    strs = cast("Sequence[str]", ids)
    if not set(map(len, strs)) <= _ID_LENGTHS:
        return False
    joined = "".join(strs)
    return joined.isascii() and not joined.encode().translate(None, _HEX)  # deletes hex: nothing left


_ID_LENGTHS = {32, 64}
_HEX = b"0123456789abcdef"
_CONTROL_OR_SLASH = bytes(range(0x20)) + b"\x7f/"


def _nonneg(values: Sequence[object]) -> bool:
    """Every value a non-negative ``int`` (``type(...) is int`` refuses bools and floats)."""
    return not values or (set(map(type, values)) == {int} and min(cast("Sequence[int]", values)) >= 0)


def _names_ok(names: list[str]) -> bool:
    if "" in names or "." in names or ".." in names:
        return False
    joined = "".join(names)
    if not joined.isascii():
        return all(name_problem(n) is None for n in names)
    raw = joined.encode()
    return len(raw.translate(None, _CONTROL_OR_SLASH)) == len(raw) and max(map(len, names)) <= MAX_NAME_BYTES


def _explain(oid: str, page: Page) -> None:
    """Raise :class:`MalformedTree` for the first bad item of a page that failed :func:`_page_ok`."""
    id_ok = _ID_RE.fullmatch
    prev: object = None
    for it in page.items:
        name = it.name
        if isinstance(it, Child):
            if type(name) is not str:
                raise MalformedTree(oid, f"child page key {name!r} is not a string")
            if type(it.oid) is not str or not id_ok(it.oid):
                raise MalformedTree(oid, f"child page {it.oid!r} is not an object id")
            if not _nonneg((it.n, it.files, it.size)):
                raise MalformedTree(oid, f"child page {it.oid} has impossible totals")
        else:
            problem = name_problem(name)
            if problem is not None:
                raise MalformedTree(oid, f"entry {name!r}: {problem}")
            if type(it.hash) is not str or not id_ok(it.hash):
                raise MalformedTree(oid, f"entry {name!r}: {it.hash!r} is not an id")
            if not _nonneg((it.size, it.count)):
                raise MalformedTree(oid, f"entry {name!r}: impossible size or file count")
            if it.kind == DIR and it.refs:
                raise MalformedTree(oid, f"directory entry {name!r} has data references")
            if it.index != "" and (type(it.index) is not str or not id_ok(it.index) or it.size <= 0):
                raise MalformedTree(oid, f"entry {name!r}: invalid index object {it.index!r}")
            for r in it.refs:
                if type(r.oid) is not str or not id_ok(r.oid) or not _nonneg((r.offset, r.length)):
                    raise MalformedTree(oid, f"entry {name!r}: invalid data reference {tuple(r)!r}")
            total = sum(r.length for r in it.refs)
            if it.kind == FILE and total != it.size and not it.index:
                raise MalformedTree(oid, f"entry {name!r}: size {it.size} but {total} bytes of data")
        if prev is not None and not (type(prev) is str and type(name) is str and prev < name):
            raise MalformedTree(oid, f"entries out of order or repeated: {name!r} after {prev!r}")
        prev = name
    raise MalformedTree(oid, "invalid page")


def check_tree_path(path: str, oid: str) -> None:
    """Refuse a path built from a tree's names that is longer or deeper than the limits.

    Names are checked page by page; only a walk knows how long the paths below get.

    Raises:
        MalformedTree: naming ``oid``, the tree the path was found in.
    """
    problem = path_problem(path)
    if problem is not None:
        shown = path if len(path) <= 80 else path[:40] + "..." + path[-30:]
        raise MalformedTree(oid, f"path {shown!r} is {problem}")


def _chunk(items: list[Item], h: int) -> tuple[list[list[Item]], list[Item]]:
    """Cut ``items`` after each boundary name: the complete pages and the unterminated rest."""
    pages: list[list[Item]] = []
    start = 0
    for i, it in enumerate(items):
        if _boundary(it.name, h):
            pages.append(items[start : i + 1])
            start = i + 1
    return pages, items[start:]


def _merge(items: Sequence[_I], changes: Sequence[tuple[str, _I | None]]) -> list[_I]:
    d = {it.name: it for it in items}
    for key, new in changes:
        if new is None:
            d.pop(key, None)
        else:
            d[key] = new
    return [d[k] for k in sorted(d)]


Path = list[tuple[InnerPage, int]]


class Trees:
    """Build, update, read, walk and diff trees in an object store.

    ``read(oid)`` must return verified bytes; ``write(data)`` stores bytes and returns
    their id (the store defers tree writes until the data they point to is durable).
    """

    def __init__(self, read: Callable[[str], bytes], write: Callable[[bytes], ObjectId]) -> None:
        self._read = read
        self._write = write
        self._cache: OrderedDict[str, Page] = OrderedDict()
        self._cached_items = 0
        self._empty: ObjectId | None = None

    # ----- pages -------------------------------------------------------------

    def load(self, oid: str) -> Page:
        page = self._cache.get(oid)
        if page is not None:
            self._cache.move_to_end(oid)
            return page
        data = self._read(oid)
        with gcpause.paused():
            page = decode_page(data, oid)
        self._remember(oid, page)
        return page

    def _remember(self, oid: str, page: Page) -> None:
        old = self._cache.pop(oid, None)
        if old is not None:
            self._cached_items -= len(old.keys)
        self._cache[oid] = page
        self._cached_items += len(page.keys)
        while len(self._cache) > 1 and (len(self._cache) > _CACHE_PAGES or self._cached_items > _CACHE_ITEMS):
            _, dropped = self._cache.popitem(last=False)
            self._cached_items -= len(dropped.keys)

    def _write_page(self, h: int, items: list[Item]) -> Child:
        oid = self._write(encode_page(h, items))
        page = _page(h, items)
        self._remember(oid, page)
        n, files, size = page.totals()
        return Child(items[0].name if items else "", oid, n, files, size)

    def empty(self) -> ObjectId:
        """The id of the empty directory."""
        if self._empty is None:
            self._empty = self._write_page(0, []).oid
        return self._empty

    def totals(self, root: str) -> tuple[int, int, int]:
        """(entries, files, bytes) of the directory ``root``: its own entries, all files below."""
        return self.load(root).totals()

    def dir_entry(self, name: str, root: str) -> Entry:
        """A directory entry for the tree ``root``."""
        _, files, size = self.totals(root)
        return Entry(name, DIR, size, root, (), files)

    # ----- one directory -----------------------------------------------------

    def build_dir(self, entries: Iterable[Entry]) -> ObjectId:
        """The root id of a directory holding ``entries`` (sorted by name, unique)."""
        b = DirBuilder(self)
        for e in entries:
            b.add(e)
        return b.finish()

    def _build_levels(self, refs: list[Child], h: int) -> str:
        while len(refs) > 1:
            pages, rest = _chunk(list(refs), h)
            if rest:
                pages.append(rest)
            refs = [self._write_page(h, p) for p in pages]
            h += 1
        return refs[0].oid

    def iter_dir(self, root: str) -> Iterator[Entry]:
        """The entries of one directory, in name order, streamed page by page."""
        stack: list[Iterator[Item]] = [iter(self.load(root).items)]
        while stack:
            it = next(stack[-1], None)
            if it is None:
                stack.pop()
            elif isinstance(it, Child):
                stack.append(iter(self.load(it.oid).items))
            else:
                yield it

    def iter_dir_from(self, root: str, start: str) -> Iterator[Entry]:
        """The entries of one directory named ``start`` or later, in name order.

        Descends to the page holding ``start`` (a bisection per level) instead of reading
        every earlier page: what a paginated listing of a huge directory needs.
        """
        stack: list[Iterator[Item]] = []
        page = self.load(root)
        while isinstance(page, InnerPage):
            idx = max(bisect_right(page.keys, start) - 1, 0)
            stack.append(iter(page.items[idx + 1 :]))
            page = self._load_child(page.items[idx].oid, page.h)
        stack.append(iter(page.items[bisect_left(page.keys, start) :]))
        while stack:
            it = next(stack[-1], None)
            if it is None:
                stack.pop()
            elif isinstance(it, Child):
                stack.append(iter(self.load(it.oid).items))
            else:
                yield it

    def _load_child(self, oid: str, h: int) -> Page:
        page = self.load(oid)
        if page.h != h - 1:
            raise InvalidInput(f"tree object {oid} is malformed: height {page.h} under a page of height {h}")
        return page

    def lookup(self, root: str, name: str) -> Entry | None:
        """The entry called ``name`` in the directory ``root``."""
        page = self.load(root)
        while isinstance(page, InnerPage):
            idx = bisect_right(page.keys, name) - 1
            if idx < 0:
                return None
            page = self.load(page.items[idx].oid)
        i = bisect_left(page.keys, name)
        if i < len(page.keys) and page.keys[i] == name:
            return page.items[i]
        return None

    def _load_inner(self, oid: str) -> InnerPage:
        """The page ``oid``, which its parent's height says is an inner page."""
        page = self.load(oid)
        if not isinstance(page, InnerPage):
            raise InvalidInput(f"tree object {oid} is malformed: a leaf page where an inner page belongs")
        return page

    def update_dir(self, root: str, changes: Sequence[tuple[str, Entry | None]]) -> str:
        """Apply name-level ``changes`` (sorted by name; None deletes) to one directory.

        Rewrites only the pages that hold a changed name (plus at most one neighbour
        per page whose closing boundary was deleted) and their ancestors.
        """
        if not changes:
            return root
        page = self.load(root)
        if isinstance(page, LeafPage) and len(page.items) <= SMALL_DIR:
            return self.build_dir(_merge(page.items, changes))
        top = page.h
        level_changes: list[tuple[str, Item | None]] = list(changes)
        for h in range(top):
            level_changes = self._update_level(root, h, level_changes)
        top_items: Sequence[Item] = page.items
        complete, rest = _chunk(_merge(top_items, level_changes), top)
        if rest:
            complete.append(rest)
        refs = [self._write_page(top, p) for p in complete]
        if not refs:
            return self.empty()
        new_root = self._build_levels(refs, top + 1)
        new_page = self.load(new_root)
        while isinstance(new_page, InnerPage) and len(new_page.items) == 1:
            new_root = new_page.items[0].oid
            new_page = self.load(new_root)
        if new_page.h > 0 and new_page.totals()[0] <= SMALL_DIR:
            return self.build_dir(list(self.iter_dir(new_root)))
        return new_root

    def _seek(self, root: str, key: str, h: int) -> Path:
        """Frames from the root down to height h+1; the last frame points at the level-h page for key."""
        path: Path = []
        page = self.load(root)
        while isinstance(page, InnerPage) and page.h > h:
            idx = max(bisect_right(page.keys, key) - 1, 0)
            path.append((page, idx))
            page = self.load(page.items[idx].oid)
        return path

    def _next(self, path: Path, h: int) -> Path | None:
        """The path to the level-h page after the one ``path`` points at."""
        path = list(path)
        while path:
            page, idx = path[-1]
            if idx + 1 < len(page.items):
                path[-1] = (page, idx + 1)
                while page.h > h + 1:
                    page = self._load_inner(page.items[path[-1][1]].oid)
                    path.append((page, 0))
                return path
            path.pop()
        return None

    def _update_level(
        self, root: str, h: int, changes: Sequence[tuple[str, Item | None]]
    ) -> list[tuple[str, Item | None]]:
        """Rewrite the level-h pages ``changes`` touch; return the changes for level h+1."""
        groups: list[tuple[Path, Child, list[tuple[str, Item | None]]]] = []
        for key, item in changes:
            path = self._seek(root, key, h)
            frame, idx = path[-1]
            ref = frame.items[idx]
            if groups and groups[-1][1].oid == ref.oid and groups[-1][1].name == ref.name:
                groups[-1][2].append((key, item))
            else:
                groups.append((path, ref, [(key, item)]))
        removed: list[str] = []
        added: list[Child] = []
        pending: list[Item] = []
        gi = 0
        cur: tuple[Path, Child, list[tuple[str, Item | None]]] | None = groups[0]
        while cur is not None:
            path, ref, chg = cur
            removed.append(ref.name)
            pending.extend(_merge(self.load(ref.oid).items, chg))
            complete, pending = _chunk(pending, h)
            added.extend(self._write_page(h, p) for p in complete)
            nxt = self._next(path, h)
            if nxt is None:
                break
            nxt_ref = nxt[-1][0].items[nxt[-1][1]]
            following = groups[gi + 1] if gi + 1 < len(groups) else None
            if following is not None and following[1].name == nxt_ref.name:
                gi += 1
                cur = following
            elif pending:
                cur = (nxt, nxt_ref, [])  # its opening boundary was deleted: merge into it
            elif following is not None:
                gi += 1
                cur = following
            else:
                cur = None
        if pending:
            added.append(self._write_page(h, pending))
        out: dict[str, Item | None] = dict.fromkeys(removed)
        out.update((c.name, c) for c in added)
        return sorted(out.items(), key=lambda kv: kv[0])

    # ----- nested paths ------------------------------------------------------

    def get(self, root: str, path: str) -> Entry | None:
        """The entry at a normalized ``path`` (the root itself for ``""``), or None."""
        parts = split_path(path)
        if not parts:
            return self.dir_entry("", root)
        cur = root
        for part in parts[:-1]:
            e = self.lookup(cur, part)
            if e is None or not e.is_dir:
                return None
            cur = e.hash
        return self.lookup(cur, parts[-1])

    def update(self, root: str, changes: Mapping[str, Entry | None], _prefix: str = "") -> str:
        """Apply path-level changes (normalized paths; None deletes a file or a whole directory).

        Missing parents are created and directories left empty disappear. Putting a file
        where a directory is (or the reverse) raises :class:`PathConflict`; delete first.
        """
        deletes: set[str] = set()
        puts: dict[str, Entry] = {}
        subs: dict[str, dict[str, Entry | None]] = {}
        for path, entry in changes.items():
            head, _, rest = path.partition("/")
            if not head:
                raise InvalidInput("cannot replace the root directory itself")
            if rest:
                subs.setdefault(head, {})[rest] = entry
            elif entry is None:
                deletes.add(head)
            else:
                puts[head] = entry if entry.name == head else entry.renamed(head)
        out: dict[str, Entry | None] = dict.fromkeys(deletes)
        for name in sorted(subs):
            sub = subs[name]
            if name in puts:
                raise PathConflict(f"{_prefix}{name} cannot be both a file and a directory")
            existing = None if name in deletes else self.lookup(root, name)
            if existing is not None and not existing.is_dir:
                if all(v is None for v in sub.values()):
                    continue
                raise PathConflict(f"{_prefix}{name} is a file, not a directory")
            sub_root = self.update(existing.hash if existing else self.empty(), sub, f"{_prefix}{name}/")
            n, files, size = self.totals(sub_root)
            out[name] = Entry(name, DIR, size, sub_root, (), files) if n else None
        for name, entry in puts.items():
            existing = self.lookup(root, name)
            if existing is not None and existing.kind != entry.kind:
                raise PathConflict(
                    f"{_prefix}{name} is a {existing.kind}; cannot replace it with a {entry.kind}"
                )
            out[name] = entry
        return self.update_dir(root, sorted(out.items(), key=lambda kv: kv[0]))

    def walk(self, root: str, prefix: str = "", *, dirs: bool = False) -> Iterator[tuple[str, Entry]]:
        """Every file below ``root`` (and directory, with ``dirs``) as (path, entry), in path order.

        Raises:
            MalformedTree: a path longer or deeper than the limits (naming its directory's tree).
        """
        # An explicit stack of (prefix, page items, index, directory id): no generator per level.
        stack: list[tuple[str, Sequence[Item], int, str]] = [(prefix, self.load(root).items, 0, root)]
        while stack:
            pre, items, i, d = stack[-1]
            if i >= len(items):
                stack.pop()
                continue
            stack[-1] = (pre, items, i + 1, d)
            it = items[i]
            if isinstance(it, Child):
                stack.append((pre, self.load(it.oid).items, 0, d))
                continue
            path = pre + it.name
            if len(path) > SHORT_PATH:
                check_tree_path(path, d)
            if it.kind == DIR:
                if dirs:
                    yield path, it
                stack.append((path + "/", self.load(it.hash).items, 0, it.hash))
            else:
                yield path, it

    def walk_runs(self, root: str, prefix: str = "") -> Iterator[Run]:
        """:meth:`walk` in runs of consecutive files of one page, as columns (paths, sizes,
        hashes), in path order.

        A page of files is one run whose columns come straight from the decoded page, its
        paths made in one C-level pass: what a listing of millions of files needs (no
        Python code, no entry object per file).

        Raises:
            MalformedTree: a path longer or deeper than the limits (naming its directory's tree).
        """
        stack: list[tuple[str, Page, int, str]] = [(prefix, self.load(root), 0, root)]
        while stack:
            pre, page, i, d = stack[-1]
            if isinstance(page, LeafPage) and i == 0 and page.files is not None:
                stack.pop()
                names, sizes, hashes, _ = page.files
                yield self._run(pre, names, sizes, hashes, d)
                continue
            items = page.items
            if i >= len(items):
                stack.pop()
                continue
            it = items[i]
            if isinstance(it, Child):
                stack[-1] = (pre, page, i + 1, d)
                stack.append((pre, self.load(it.oid), 0, d))
                continue
            if it.kind == DIR:
                stack[-1] = (pre, page, i + 1, d)
                stack.append((pre + it.name + "/", self.load(it.hash), 0, it.hash))
                continue
            j = i + 1
            while j < len(items) and cast(Entry, items[j]).kind != DIR:
                j += 1
            run = cast("Sequence[Entry]", items[i:j])
            stack[-1] = (pre, page, j, d)
            yield self._run(pre, list(map(_NAME, run)), list(map(_SIZE, run)), list(map(_HASH, run)), d)

    @staticmethod
    def _run(pre: str, names: Sequence[str], sizes: Sequence[int], hashes: Sequence[str], d: str) -> Run:
        paths = list(map(pre.__add__, names))
        if max(map(len, paths)) > SHORT_PATH:
            for path in paths:
                check_tree_path(path, d)
        return paths, sizes, hashes

    def diff(self, a: str, b: str, prefix: str = "", *, dirs: bool = False) -> Iterator[DiffEntry]:
        """File-level changes from tree ``a`` to tree ``b``, skipping shared subtrees and pages.

        With ``dirs``, directories added or deleted (and those under them) are changes too:
        an empty directory appears or goes without any file changing.

        Raises:
            MalformedTree: a path longer or deeper than the limits.
        """
        if a == b:
            return
        if len(prefix) > SHORT_PATH:
            check_tree_path(prefix.rstrip("/"), b)
        sa, sb = _Stream(self, a), _Stream(self, b)
        while True:
            x, y = sa.peek(), sb.peek()
            if x is None and y is None:
                return
            if isinstance(x, Child) and isinstance(y, Child) and x.oid == y.oid:
                sa.skip()
                sb.skip()
                continue
            if isinstance(x, Child) or isinstance(y, Child):
                if isinstance(x, Child):
                    sa.expand()
                if isinstance(y, Child):
                    sb.expand()
                continue
            if y is None or (x is not None and x.name < y.name):
                assert x is not None
                yield from self._one_side(x, prefix, deleted=True, dirs=dirs)
                sa.skip()
            elif x is None or y.name < x.name:
                yield from self._one_side(y, prefix, deleted=False, dirs=dirs)
                sb.skip()
            else:
                sa.skip()
                sb.skip()
                if x == y:
                    continue
                path = prefix + x.name
                if x.is_dir and y.is_dir:
                    yield from self.diff(x.hash, y.hash, path + "/", dirs=dirs)
                elif x.is_dir or y.is_dir:
                    yield from self._one_side(x, prefix, deleted=True, dirs=dirs)
                    yield from self._one_side(y, prefix, deleted=False, dirs=dirs)
                else:
                    if len(path) > SHORT_PATH:
                        check_tree_path(path, b)
                    yield DiffEntry(path, x, y)

    def _one_side(self, e: Entry, prefix: str, *, deleted: bool, dirs: bool = False) -> Iterator[DiffEntry]:
        files: Iterable[tuple[str, Entry]]
        if not e.is_dir:
            files = [(prefix + e.name, e)]
        elif dirs:
            files = itertools.chain(
                [(prefix + e.name, e)], self.walk(e.hash, prefix + e.name + "/", dirs=True)
            )
        else:
            files = self.walk(e.hash, prefix + e.name + "/")
        for path, f in files:
            yield DiffEntry(path, f, None) if deleted else DiffEntry(path, None, f)

    def iter_objects(self, root: str, seen: set[str] | None = None) -> Iterator[tuple[str, bool]]:
        """Every object a tree uses, as (id, is_tree); shared subtrees are visited once per ``seen``."""
        seen = set() if seen is None else seen
        stack = [root]
        while stack:
            oid = stack.pop()
            if oid in seen:
                continue
            seen.add(oid)
            yield oid, True
            page = self.load(oid)
            for it in page.items:
                if isinstance(it, Child):
                    stack.append(it.oid)
                elif it.is_dir:
                    stack.append(it.hash)
                elif it.index:
                    if it.index not in seen:
                        yield from self._index_objects(it, seen)
                else:
                    for r in it.refs:
                        yield r.oid, False

    def iter_refs(self, entry: Entry) -> Iterator[DataRef]:
        """A file's data refs: inline, or streamed from its index object (checked as decoded)."""
        if entry.index:
            return index.iter_refs(self._read, entry.index, entry.size)
        return iter(entry.refs)

    def _index_objects(self, entry: Entry, seen: set[str]) -> Iterator[tuple[str, bool]]:
        """An indexed file's index pages (as metadata, ``True``) and data objects."""
        pages: list[str] = []
        for r in index.iter_refs(self._read, entry.index, entry.size, pages=pages.append):
            while pages:
                p = pages.pop()
                seen.add(p)
                yield p, True
            yield r.oid, False
        for p in pages:
            seen.add(p)
            yield p, True


class _Stream:
    """A cursor over one directory's items that can skip or open whole pages."""

    def __init__(self, trees: Trees, root: str) -> None:
        self._trees = trees
        self._stack: list[tuple[Sequence[Item], int]] = [([Child("", ObjectId(root), 0, 0, 0)], 0)]

    def peek(self) -> Item | None:
        while self._stack:
            items, i = self._stack[-1]
            if i < len(items):
                return items[i]
            self._stack.pop()
        return None

    def skip(self) -> None:
        items, i = self._stack[-1]
        self._stack[-1] = (items, i + 1)

    def expand(self) -> None:
        child = self.peek()
        assert isinstance(child, Child)
        self.skip()
        self._stack.append((self._trees.load(child.oid).items, 0))


class DirBuilder:
    """Streams one directory's entries (added in name order) into pages as boundaries appear."""

    def __init__(self, trees: Trees) -> None:
        self._trees = trees
        self._small: list[Item] | None = []
        self._levels: list[list[Item]] = [[]]
        self._emitted: list[int] = [0]
        self._last: str | None = None
        self.files = 0
        self.size = 0

    def add(self, entry: Entry) -> None:
        if self._last is not None and entry.name <= self._last:
            if entry.name == self._last:
                raise PathConflict(f"duplicate name {entry.name!r} in one directory")
            raise ValueError(f"entries out of order: {entry.name!r} after {self._last!r}")
        self._last = entry.name
        self.files += entry.count
        self.size += entry.size
        if self._small is not None:
            self._small.append(entry)
            if len(self._small) > SMALL_DIR:
                buffered, self._small = self._small, None
                for it in buffered:
                    self._push(0, it)
        else:
            self._push(0, entry)

    def _push(self, h: int, item: Item) -> None:
        if h == len(self._levels):
            self._levels.append([])
            self._emitted.append(0)
        self._levels[h].append(item)
        if _boundary(item.name, h):
            self._emit(h)

    def _emit(self, h: int) -> None:
        items, self._levels[h] = self._levels[h], []
        self._emitted[h] += 1
        self._push(h + 1, self._trees._write_page(h, items))

    def finish(self) -> ObjectId:
        """Write what is left and return the directory's root id."""
        if self._small is not None:
            return self._trees._write_page(0, self._small).oid
        h = 0
        while True:
            items = self._levels[h]
            only = items[0] if len(items) == 1 else None
            if h > 0 and self._emitted[h] == 0 and isinstance(only, Child):
                return only.oid
            if items:
                self._emit(h)
            h += 1


class TreeBuilder:
    """Builds a whole tree from (path, entry) pairs given in tree order, with bounded memory.

    Tree order sorts by path components (``a/x`` before ``a.txt``'s sibling order is by
    name: ``a`` < ``a.txt``); :func:`tree_order` is the sort key.
    """

    def __init__(self, trees: Trees) -> None:
        self._trees = trees
        self._names: list[str] = []
        self._open: list[DirBuilder] = [DirBuilder(trees)]

    def add(self, path: str, entry: Entry) -> None:
        parts = split_path(path)
        if not parts:
            raise InvalidInput("a file needs a path below the root")
        dirs = parts[:-1]
        common = 0
        while common < len(self._names) and common < len(dirs) and self._names[common] == dirs[common]:
            common += 1
        while len(self._names) > common:
            self._close()
        for d in dirs[common:]:
            self._names.append(d)
            self._open.append(DirBuilder(self._trees))
        self._open[-1].add(entry if entry.name == parts[-1] else entry.renamed(parts[-1]))

    def _close(self) -> None:
        name = self._names.pop()
        b = self._open.pop()
        root = b.finish()
        if b.files or b._last is not None:
            self._open[-1].add(Entry(name, DIR, b.size, root, (), b.files))

    def finish(self) -> ObjectId:
        while self._names:
            self._close()
        return self._open[0].finish()


def tree_order(path: str) -> list[str]:
    """Sort key that puts paths in the order trees store them."""
    return path.split("/")
