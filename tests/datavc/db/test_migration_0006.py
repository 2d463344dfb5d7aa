"""Migration 0006_collaboration: a store made before it (at 0005, with data) upgrades cleanly.

Its commits keep their one parent, branches come out unprotected, and merges, metadata
and protection work on the old data straight away. Downgrading again keeps the old data.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from datavc.client import Client
from datavc.db import Database, migrate


def test_a_0005_store_with_data_upgrades_and_merges(db_url: str, tmp_path: Path) -> None:
    with Client.init(tmp_path / "store", db=db_url) as c:
        c.create_repo("r")
        first = c.put_file("r", "main", "/a", b"a").id
        c.create_branch("r", "dev")
        c.put_file("r", "dev", "/b", b"b")
        second = c.put_file("r", "main", "/c", b"c").id
    db = Database(db_url)
    try:
        migrate.downgrade(db.engine, "0005")  # the schema as datavc had it before this migration
        tables = set(inspect(db.engine).get_table_names())
        assert not {"commit_parents", "commit_metadata"} & tables
        assert "protection" not in {col["name"] for col in inspect(db.engine).get_columns("branches")}
    finally:
        db.dispose()
    with Client.open(tmp_path / "store") as c:  # opening migrates
        assert [x.id for x in c.log("r")] == [second, first]
        assert (
            c.inspect_commit("r", "main").parents == (first,) and c.inspect_commit("r", first).parents == ()
        )
        assert {b.name: b.protection for b in c.list_branches("r")} == {"dev": "", "main": ""}
        m = c.merge("r", "dev", "main", metadata={"after": "upgrade"})
        assert m.commit is not None and m.commit.parents[1] == c.inspect_branch("r", "dev").head
        assert sorted(f.path for f in c.walk_files("r", "main")) == ["/a", "/b", "/c"]
        assert c.protect_branch("r", "main").protection == "merge"
