"""Alembic environment: runs on the connection that ``datavc.db.migrate`` passes in.

For development (``alembic revision --autogenerate``) without that connection, set
``sqlalchemy.url`` in the Config and a connection is made from it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from datavc.db.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        compare_server_default=True,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("run datavc migrations through datavc.db.migrate, or set sqlalchemy.url")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


main()
