"""Sessions: compare-and-swap, writer serialization, concurrency, URLs and unreachable servers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from datavc.db import Database
from datavc.db.models import Branch, Repo
from datavc.errors import BackendUnavailable, InvalidArgument
from tests.datavc.db.helpers import add_branch, add_commit, add_repo


def move_head(session: Session, branch_id: int, old: str | None, new: str) -> bool:
    """The compare-and-swap of a branch head: True if ``old`` was still the head."""
    result = session.execute(
        update(Branch)
        .where(Branch.id == branch_id, Branch.head_id.is_not_distinct_from(old))
        .values(head_id=new)
        .execution_options(synchronize_session=False)
    )
    rowcount: int = result.rowcount  # type: ignore[attr-defined]
    return rowcount == 1


@pytest.mark.parametrize("start", ["empty", "with-head"])
def test_compare_and_swap_race_has_exactly_one_winner(db: Database, start: str) -> None:
    with db.write() as s:
        repo = add_repo(s)
        base = add_commit(s, repo) if start == "with-head" else None
        branch_id = add_branch(s, repo, base).id
        candidates = [add_commit(s, repo, parent=base).id for _ in range(4)]
        expected = base.id if base else None

    both_read = threading.Barrier(len(candidates))

    def writer(new: str) -> bool:
        with db.read() as s:
            old = s.scalar(select(Branch.head_id).where(Branch.id == branch_id))
        assert old == expected
        both_read.wait(timeout=30)  # everyone saw the same head before anyone moves it
        with db.write() as s:
            return move_head(s, branch_id, old, new)

    with ThreadPoolExecutor(len(candidates)) as pool:
        won = list(pool.map(writer, candidates))
    assert won.count(True) == 1
    with db.read() as s:
        head = s.scalar(select(Branch.head_id).where(Branch.id == branch_id))
    assert head == candidates[won.index(True)]


def test_read_session_is_rolled_back(db: Database) -> None:
    with db.read() as s:
        add_repo(s)
    with db.read() as s:
        assert s.scalars(select(Repo)).all() == []


def test_write_session_rolls_back_on_exception(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), db.write() as s:
        add_repo(s)
        raise RuntimeError("boom")
    with db.read() as s:
        assert s.scalars(select(Repo)).all() == []


def test_sqlite_writers_in_threads_serialize(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'datavc.db'}")
    with db.write() as s:
        repo_id = add_repo(s).id
        s.get_one(Repo, repo_id).description = "0"
    threads, rounds = 6, 25

    def increment(_: int) -> None:
        for _ in range(rounds):
            # Read-modify-write: lost updates or "database is locked" if writers overlapped.
            with db.write() as s:
                repo = s.get_one(Repo, repo_id)
                value = int(repo.description)
                time.sleep(0.0005)
                repo.description = str(value + 1)
            with db.read() as s:
                s.scalars(select(Repo)).all()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(increment, range(threads)))
    with db.read() as s:
        assert s.get_one(Repo, repo_id).description == str(threads * rounds)
    db.dispose()


def test_sqlite_settings(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'datavc.db'}")
    with db.read() as s:
        pragmas = {
            name: s.connection().exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
        }
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1, "synchronous": 1}
    db.dispose()


def test_sqlite_read_does_not_block_on_a_writer(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'datavc.db'}")
    with db.write() as w:
        add_repo(w, "uncommitted")
        start = time.perf_counter()
        with db.read() as r:
            assert r.scalars(select(Repo)).all() == []
        assert time.perf_counter() - start < 5
    db.dispose()


def test_dialect_and_display_url(db: Database, db_url: str) -> None:
    assert db.dialect == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    if db.url.password:
        assert str(db.url.password) not in db.url_for_display
        assert "***" in db.url_for_display
    assert str(db.url.database) in db.url_for_display


def test_unreachable_postgresql_is_backend_unavailable_without_password() -> None:
    url = "postgresql+psycopg://alice:s3cr3t-pw@127.0.0.1:1/metadata"
    start = time.perf_counter()
    with pytest.raises(BackendUnavailable) as info:
        Database.open(url)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "s3cr3t-pw" not in message
    assert "\n" not in message
    assert "'metadata'" in message and "127.0.0.1:1" in message
    assert "check that the server is running" in message


def test_postgres_scheme_aliases_use_psycopg() -> None:
    for url in ("postgres://u:p@h/d", "postgresql://u:p@h/d", "postgresql+psycopg://u:p@h/d"):
        db = Database(url)
        assert db.url.drivername == "postgresql+psycopg"
        assert db.url_for_display == "postgresql+psycopg://u:***@h/d"
        db.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "postgresql://u:hunter2@host:notaport/db",
        "mysql://u:hunter2@host/db",
        "postgresql+psycopg2://u:hunter2@host/db",
        "postgresql://u:hunter2@host",
        "sqlite://",
        "sqlite:///:memory:",
    ],
)
def test_malformed_or_unsupported_url_is_invalid_argument(url: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Database(url)
    assert "hunter2" not in str(info.value)


def test_sqlite_in_a_missing_directory_is_backend_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "datavc.db"
    with pytest.raises(BackendUnavailable, match="cannot open SQLite database"):
        Database.open(f"sqlite:///{path}")


def test_unrelated_operational_errors_pass_through(db: Database) -> None:
    with pytest.raises(DBAPIError) as info, db.write() as s:
        s.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(info.value, BackendUnavailable)
