"""``tree_pages``: which tree pack holds a datum's output tree page, on SQLite and PostgreSQL."""

from __future__ import annotations

from datavc import tree_pages
from datavc.db import Database


def test_a_page_recorded_again_points_at_the_newest_pack_and_gc_forgets_deleted_packs(db: Database) -> None:
    with db.write() as s:
        tree_pages.record(s.connection(), {"a" * 32: "1" * 32, "b" * 32: "1" * 32})
    with db.write() as s:
        tree_pages.record(s.connection(), {"b" * 32: "2" * 32, "c" * 32: "2" * 32})
    locate = tree_pages.locator(db)
    assert [locate(p * 32) for p in "abcd"] == ["1" * 32, "2" * 32, "2" * 32, None]
    assert tree_pages.packs_of(db, {"a" * 32}) == ({"1" * 32}, {"1" * 32, "2" * 32})
    tree_pages.forget_packs(db, ["1" * 32])
    assert [locate(p * 32) for p in "abc"] == [None, "2" * 32, "2" * 32]
