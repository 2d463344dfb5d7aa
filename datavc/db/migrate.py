"""Schema migrations: Alembic scripts shipped in ``datavc/db/migrations``, applied on open.

``upgrade()`` runs on every open, so its common case (already at head) is one or two
plain queries and never imports Alembic. Two processes opening a fresh database at once
serialize on a lock (PostgreSQL: a transaction-level advisory lock; SQLite: the write
lock of ``BEGIN IMMEDIATE``); the second one finds the schema current and does nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text

from datavc.errors import BackendUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

HEAD_REVISION = "0011_tree_pages"
"""The newest revision in ``migrations/versions``; a test checks they agree."""

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# pg_advisory_xact_lock key: any constant bigint private to datavc ("datavc" in ASCII).
_PG_LOCK_KEY = 0x646174617663

_WRITE_OPTION = "datavc_write"  # see datavc.db.session.WRITE_OPTION


def current_revision(conn: Connection) -> str | None:
    """The schema revision recorded in ``alembic_version``, or None for an empty database."""
    if conn.dialect.name == "sqlite":
        exists = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
        ).first()
    else:
        exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
    if not exists:
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise BackendUnavailable(f"database has several schema revisions {sorted(rows)}; expected one")
    return rows[0] if rows else None


def alembic_config(conn: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the shipped scripts (no alembic.ini), bound to ``conn``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema of ``engine``'s database to ``HEAD_REVISION``.

    Pass a ``Database.engine``: on SQLite its ``BEGIN IMMEDIATE`` handling is what
    serializes concurrent migrators.

    Raises:
        BackendUnavailable: the database's schema is newer than this datavc knows.
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    with engine.connect() as conn:
        current = current_revision(conn)
        conn.rollback()
    if current == HEAD_REVISION:
        return
    _run(engine, "upgrade", "head")


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (``"base"`` drops every table). For tests."""
    _run(engine, "downgrade", revision)


def _run(engine: Engine, direction: str, revision: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    with engine.execution_options(**{_WRITE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        # Re-read under the lock: another process may have migrated meanwhile.
        current = current_revision(conn)
        if direction == "upgrade" and current == HEAD_REVISION:
            return
        config = alembic_config(conn)
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if current is not None and current not in known:
            raise BackendUnavailable(
                f"database schema revision {current!r} is newer than this datavc knows "
                f"(latest {HEAD_REVISION!r}); upgrade datavc"
            )
        if direction == "upgrade":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)
