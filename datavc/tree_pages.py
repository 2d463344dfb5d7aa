"""Which tree pack holds a tree page that is not an object of its own (``tree_pages``).

A batched job stores its datums' output trees in tree packs (:mod:`storage.treepack`,
one object for many datums: an object file per datum was most of a trivial datum's
storing cost). A datum's ``output_tree`` is still the page's id; this table says which
pack holds it, and the store asks :func:`locator` when it does not find the page as an
object. Rows are written in the transaction that records the datums (after the pack is
durable); a page already known points at the newest pack that holds it (the one a
concurrent gc's grace period protects). ``gc`` keeps every pack that holds a reachable
page (:func:`packs_of`) and drops the rows of packs it deleted (:func:`forget_packs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import cast

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update

from datavc.db.models import TreePage
from datavc.db.session import Database

_CHUNK = 500  # ids per IN (...) list (SQLite's bound-parameter limit)
_TABLE = cast(Table, TreePage.__table__)
_KNOWN = select(_TABLE.c.page).where(_TABLE.c.page.in_(bindparam("pages", expanding=True)))
_MOVE = update(_TABLE).where(_TABLE.c.page == bindparam("p")).values(pack=bindparam("k"))


def locator(db: Database) -> Callable[[str], str | None]:
    """The store's ``tree_locator``: the pack recorded for a page, or None."""

    def locate(page: str) -> str | None:
        with db.read() as s:
            return s.scalar(select(TreePage.pack).where(TreePage.page == page))

    return locate


def record(conn: Connection, pages: Mapping[str, str]) -> None:
    """Record ``page -> pack`` for each page (inside the caller's transaction)."""
    ids = list(pages)
    known: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        known.update(conn.scalars(_KNOWN, {"pages": ids[i : i + _CHUNK]}))
    new = [{"page": p, "pack": k} for p, k in pages.items() if p not in known]
    if new:
        conn.execute(insert(_TABLE), new)
    if known:
        conn.execute(_MOVE, [{"p": p, "k": pages[p]} for p in known])


def packs_of(db: Database, reachable: set[str]) -> tuple[set[str], set[str]]:
    """The packs that hold a page in ``reachable`` (gc keeps them), and all recorded packs."""
    live: set[str] = set()
    every: set[str] = set()
    with db.read() as s:
        for page, pack in s.execute(select(TreePage.page, TreePage.pack)):
            every.add(pack)
            if page in reachable:
                live.add(pack)
    return live, every


def forget_packs(db: Database, packs: Iterable[str]) -> None:
    """Drop the rows of packs that gc deleted."""
    gone = list(packs)
    with db.write() as s:
        for i in range(0, len(gone), _CHUNK):
            s.execute(delete(TreePage).where(TreePage.pack.in_(gone[i : i + _CHUNK])))
