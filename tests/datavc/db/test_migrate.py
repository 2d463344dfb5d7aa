"""Migrations: one head, create on empty, cheap at head, down-then-up with data, concurrent opens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from datavc.db import Database, migrate
from datavc.db.models import Base, Branch, Commit, Repo
from datavc.errors import BackendUnavailable
from tests.datavc.db.helpers import add_branch, add_commit, add_repo

REPO_ROOT = Path(__file__).resolve().parents[3]
ALL_TABLES = {*Base.metadata.tables, "alembic_version"}


def table_names(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_one_head_equal_to_head_revision() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert script.get_heads() == [migrate.HEAD_REVISION]


def test_upgrade_on_empty_database_creates_all_tables(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert table_names(db) == set()
        migrate.upgrade(db.engine)
        assert table_names(db) == ALL_TABLES
        with db.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.HEAD_REVISION
    finally:
        db.dispose()


def test_migrations_match_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_at_head_is_idempotent_and_skips_alembic(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: object) -> None:
        raise AssertionError("alembic ran although the schema is at head")

    monkeypatch.setattr(migrate, "_run", must_not_run)
    start = time.perf_counter()
    for _ in range(10):
        migrate.upgrade(db.engine)
    assert (time.perf_counter() - start) / 10 < 0.1
    assert table_names(db) == ALL_TABLES


def test_open_existing_database_does_not_import_alembic(db_url: str) -> None:
    Database.open(db_url).dispose()
    code = (
        "import sys; from datavc.db import Database; "
        "Database.open(sys.argv[1]).dispose(); "
        "assert 'alembic' not in sys.modules, 'alembic imported'"
    )
    subprocess.run([sys.executable, "-c", code, db_url], check=True, cwd=REPO_ROOT, timeout=60)


def test_downgrade_to_base_then_upgrade_with_data_present(db: Database) -> None:
    with db.write() as s:
        repo = add_repo(s)
        add_branch(s, repo, add_commit(s, repo))

    migrate.downgrade(db.engine, "base")
    assert table_names(db) == {"alembic_version"}
    with db.engine.connect() as conn:
        assert migrate.current_revision(conn) is None

    migrate.upgrade(db.engine)
    assert table_names(db) == ALL_TABLES
    with db.write() as s:
        assert s.scalar(select(func.count()).select_from(Repo)) == 0
        repo = add_repo(s)
        add_branch(s, repo, add_commit(s, repo))
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Commit)) == 1
        assert s.scalar(select(func.count()).select_from(Branch)) == 1


def test_schema_newer_than_code_is_refused(db: Database) -> None:
    with db.write() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(BackendUnavailable, match="newer than this datavc"):
        Database.open(db.url.render_as_string(hide_password=False))


OPEN_SCRIPT = """
import sys, time
from datavc.db import Database
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
Database.open(sys.argv[1]).dispose()
"""


def test_concurrent_opens_of_a_fresh_database_all_succeed(db_url: str) -> None:
    start_at = f"{time.time() + 2.0:.3f}"  # after the interpreters have started and imported
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_SCRIPT, db_url, start_at],
            cwd=REPO_ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(errors)
    db = Database(db_url)
    try:
        assert table_names(db) == ALL_TABLES
        with db.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.HEAD_REVISION
    finally:
        db.dispose()
