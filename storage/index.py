"""Index objects: the data refs of a large file, kept out of its tree page.

Why: a file's content is an ordered list of data refs ``(object id, offset, length)``.
Inline in the tree entry that costs ~50 bytes per chunk, so a 1 TB file would make a
~50 MB tree page that every listing of its directory decodes. A file with more than
:data:`INLINE_MAX` refs is instead written as a small B-tree of *index pages*, and its
tree entry holds only the root page's id (tree item kind ``"i"``); old trees with inline
refs read as before.

Page format: ``MAGIC`` then compact JSON. A leaf (``"h": 0``) holds ``"r": [oid, offset,
length, ...]``; an inner page (``"h" > 0``) holds ``"c": [page id, refs, bytes, ...]``,
one triple per page one level below, with the number of refs and bytes under it. At most
:data:`PAGE_MAX` refs or children per page, so a page is well under 1 MiB and a reader
holds one page per level: memory is bounded by the height, not the file size.

Index pages are objects like any other (content-addressed, verified on read). Their
content is also checked as it is decoded (:func:`iter_refs`): a hostile writer can store
any bytes under their own id, so heights, counts, ids, offsets and lengths are checked,
and the refs and bytes each page declares must add up exactly, down to the entry's size.
Anything else raises :class:`~storage.errors.MalformedIndex` (a ``CorruptObject``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import cast

from storage.errors import MalformedIndex
from storage.hashing import ObjectId
from storage.model import DataRef

MAGIC = b"DVINDEX1\n"
#: Files with more refs than this get an index object (256 refs: ~1 GiB of 4 MiB chunks).
INLINE_MAX = 256
#: Refs (or child pages) per index page: ~0.5 MiB of JSON per leaf.
PAGE_MAX = 8192
#: The tallest index accepted: PAGE_MAX**5 refs is far beyond any file.
MAX_HEIGHT = 4
#: A ref's offset or length, and an entry's size, above this is refused (no file is 2**62 bytes).
MAX_INT = 1 << 62

_ID_RE = re.compile(r"[0-9a-f]{32}(?:[0-9a-f]{32})?")

Load = Callable[[str], bytes]
Write = Callable[[bytes], ObjectId]


def encode_leaf(refs: list[DataRef]) -> bytes:
    flat: list[object] = []
    for r in refs:
        flat += (r.oid, r.offset, r.length)
    return MAGIC + json.dumps({"h": 0, "r": flat}, separators=(",", ":")).encode()


def encode_inner(h: int, children: list[tuple[ObjectId, int, int]]) -> bytes:
    flat: list[object] = []
    for c in children:
        flat += c
    return MAGIC + json.dumps({"h": h, "c": flat}, separators=(",", ":")).encode()


class IndexBuilder:
    """Collects a file's refs as they are cut and writes index pages as they fill.

    Pages go out through ``write`` (the writer queues them behind the data they point
    to). Memory: one page per level.
    """

    def __init__(self, write: Write) -> None:
        self._write = write
        self._levels: list[list[tuple[ObjectId, int, int]]] = []  # children waiting, per height - 1
        self._leaf: list[DataRef] = []
        self._leaf_bytes = 0

    def add(self, ref: DataRef) -> None:
        self._leaf.append(ref)
        self._leaf_bytes += ref.length
        if len(self._leaf) == PAGE_MAX:
            self._flush_leaf()

    def _flush_leaf(self) -> None:
        oid = self._write(encode_leaf(self._leaf))
        self._push(0, (oid, len(self._leaf), self._leaf_bytes))
        self._leaf, self._leaf_bytes = [], 0

    def _push(self, h: int, child: tuple[ObjectId, int, int]) -> None:
        if len(self._levels) <= h:
            self._levels.append([])
        level = self._levels[h]
        level.append(child)
        if len(level) == PAGE_MAX:
            self._push(h + 1, self._page(h + 1, level))
            self._levels[h] = []

    def _page(self, h: int, children: list[tuple[ObjectId, int, int]]) -> tuple[ObjectId, int, int]:
        oid = self._write(encode_inner(h, children))
        return oid, sum(c[1] for c in children), sum(c[2] for c in children)

    def finish(self) -> ObjectId:
        """Write what is left; returns the root page's id."""
        if self._leaf or not self._levels:
            self._flush_leaf()
        h = 0
        while True:
            level = self._levels[h]
            if h == len(self._levels) - 1 and len(level) == 1:
                return level[0][0]
            if h == len(self._levels) - 1:
                self._levels.append([])
            if level:
                self._levels[h + 1].append(self._page(h + 1, level))
                self._levels[h] = []
            h += 1


def write_index(refs: list[DataRef], write: Write) -> ObjectId:
    """The id of an index over ``refs`` (pages written through ``write``)."""
    b = IndexBuilder(write)
    for r in refs:
        b.add(r)
    return b.finish()


def _page(load: Load, oid: str) -> tuple[int, list[object]]:
    """(height, flat items) of the index page ``oid``, its shape checked."""
    data = load(oid)
    if not data.startswith(MAGIC):
        raise MalformedIndex(oid, "not an index object")
    try:
        doc = json.loads(data[len(MAGIC) :])
        h = doc["h"]
        items = doc["r"] if h == 0 else doc["c"]
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise MalformedIndex(oid, f"not a valid index page ({type(err).__name__}: {err})") from None
    if type(h) is not int or not 0 <= h <= MAX_HEIGHT:
        raise MalformedIndex(oid, f"impossible height {h!r}")
    if type(items) is not list or len(items) % 3 or not 0 < len(items) // 3 <= PAGE_MAX:
        raise MalformedIndex(oid, f"holds {len(items) // 3 if type(items) is list else '?'} items")
    for i in range(0, len(items), 3):
        oid_, a, b = items[i], items[i + 1], items[i + 2]
        if type(oid_) is not str or not _ID_RE.fullmatch(oid_):
            raise MalformedIndex(oid, f"item {i // 3}: {oid_!r} is not an object id")
        if type(a) is not int or type(b) is not int or not (0 <= a < MAX_INT and 0 <= b < MAX_INT):
            raise MalformedIndex(oid, f"item {i // 3}: impossible numbers {a!r}, {b!r}")
        if h > 0 and (a == 0 or a > PAGE_MAX**h):  # a child one level down holds at most PAGE_MAX**h refs
            raise MalformedIndex(oid, f"child page {oid_} claims {a} refs")
    return h, items


def iter_refs(
    load: Load, root: str, size: int, *, pages: Callable[[str], None] | None = None
) -> Iterator[DataRef]:
    """The data refs of an indexed file of ``size`` bytes, streamed page by page.

    ``pages`` is called with each index page's id before it is read (reachability walks).

    Raises:
        MalformedIndex: a page is malformed, or the pages disagree with each other or with
            ``size`` (refs or bytes that do not add up, a child of the wrong height).
        CorruptObject, ObjectNotFound: from ``load``.
    """
    # Each frame: the page id, its flat items, the next item, the height, the bytes and refs it must hold
    if pages is not None:
        pages(root)
    h, items = _page(load, root)
    stack: list[tuple[str, list[object], int, int, int, int]] = [(root, items, 0, h, size, -1)]
    seen_bytes: list[int] = [0]
    seen_refs: list[int] = [0]
    while stack:
        oid, items, i, h, want_bytes, want_refs = stack[-1]
        if i == len(items):
            stack.pop()
            got_bytes, got_refs = seen_bytes.pop(), seen_refs.pop()
            if got_bytes != want_bytes or (want_refs >= 0 and got_refs != want_refs):
                raise MalformedIndex(
                    oid,
                    f"holds {got_refs} refs of {got_bytes} bytes; declared {want_refs} of {want_bytes}",
                )
            if seen_bytes:
                seen_bytes[-1] += got_bytes
                seen_refs[-1] += got_refs
            continue
        stack[-1] = (oid, items, i + 3, h, want_bytes, want_refs)
        child, a, b = (
            cast(str, items[i]),
            cast(int, items[i + 1]),
            cast(int, items[i + 2]),
        )  # checked by _page
        if h == 0:
            seen_bytes[-1] += b
            seen_refs[-1] += 1
            if seen_bytes[-1] > want_bytes:
                raise MalformedIndex(oid, f"holds more than the {want_bytes} bytes declared")
            yield DataRef(ObjectId(child), a, b)
            continue
        if pages is not None:
            pages(child)
        ch, citems = _page(load, child)
        if ch != h - 1:
            raise MalformedIndex(oid, f"child page {child} has height {ch}, expected {h - 1}")
        stack.append((child, citems, 0, ch, b, a))
        seen_bytes.append(0)
        seen_refs.append(0)
