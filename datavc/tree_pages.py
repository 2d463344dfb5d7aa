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
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from datavc.db.models import TreePage
from datavc.db.session import Database

_CHUNK = 500  # ids per IN (...) list (SQLite's bound-parameter limit)
_TABLE = cast(Table, TreePage.__table__)


def _upsert(insert: Callable[[Table], Any]) -> Any:
    """``INSERT ... ON CONFLICT (page) DO UPDATE SET pack``: the newest pack wins, one statement."""
    stmt = insert(_TABLE)
    return stmt.on_conflict_do_update(index_elements=[_TABLE.c.page], set_={"pack": stmt.excluded.pack})


# The two dialects datavc runs on (datavc.db.session) spell it the same way.
_UPSERT = {"sqlite": _upsert(sqlite.insert), "postgresql": _upsert(postgresql.insert)}


def locator(db: Database) -> Callable[[str], str | None]:
    """The store's ``tree_locator``: the pack recorded for a page, or None."""

    def locate(page: str) -> str | None:
        with db.read() as s:
            return s.scalar(select(TreePage.pack).where(TreePage.page == page))

    return locate


def record(conn: Connection, pages: Mapping[str, str]) -> None:
    """Record ``page -> pack`` for each page (inside the caller's transaction)."""
    if pages:
        conn.execute(_UPSERT[conn.dialect.name], [{"page": p, "pack": k} for p, k in pages.items()])


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
