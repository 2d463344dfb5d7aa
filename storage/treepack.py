"""Tree packs: several small tree pages in one object (a batched job's datum output trees).

Why: a batched job's datums each get an output tree, usually one tiny page. Stored as an
object file each, creating those files (and a fresh store's fan-out directories) was most
of the storing thread's time. A writer can put many such pages into one *tree pack*
object instead; each page keeps its own id (the hash of its bytes), so nothing that
refers to a tree changes. Who knows which pack holds a page is the caller's business
(datavc records it in its database with the datum): :class:`~storage.store.ObjectStore`
asks its ``tree_locator`` for a page it does not find as an object of its own.

Format: ``MAGIC`` then, per page, its length as 4 big-endian bytes and its bytes. Nothing
read is trusted: the lengths must fit the object exactly, a page must be a tree page, and a
page found through a pack is checked against its id like any object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from storage.errors import MalformedTree

MAGIC = b"DVTPACK1\n"
MAX_PAGES = 65_536  # pages per pack, at most (a writer puts a few hundred in one)
_LEN = 4


def encode(pages: Sequence[bytes]) -> bytes:
    """The pack holding ``pages`` (each a tree page's bytes), in order."""
    if len(pages) > MAX_PAGES:
        raise ValueError(f"a tree pack holds at most {MAX_PAGES} pages")
    out = bytearray(MAGIC)
    for p in pages:
        out += len(p).to_bytes(_LEN, "big")
        out += p
    return bytes(out)


def is_tree_pack(data: bytes) -> bool:
    return data.startswith(MAGIC)


def index(
    data: bytes, digest: Callable[[bytes | memoryview], str], oid: str = "?"
) -> dict[str, tuple[int, int]]:
    """Each page's id -> (offset, length) in the pack ``data`` (object ``oid``).

    Raises:
        MalformedTree: not a tree pack, or lengths that do not fit it exactly.
    """
    from storage.tree import MAGIC as PAGE_MAGIC

    if not data.startswith(MAGIC):
        raise MalformedTree(oid, "not a tree pack")
    pages: dict[str, tuple[int, int]] = {}
    pos, end = len(MAGIC), len(data)
    view = memoryview(data)
    while pos < end:
        if pos + _LEN > end or len(pages) >= MAX_PAGES:
            raise MalformedTree(oid, "a tree pack that is truncated or too long")
        n = int.from_bytes(view[pos : pos + _LEN], "big")
        pos += _LEN
        if n > end - pos or not data.startswith(PAGE_MAGIC, pos):
            raise MalformedTree(oid, f"a tree pack with a bad page at offset {pos}")
        pages.setdefault(digest(view[pos : pos + n]), (pos, n))
        pos += n
    return pages
