"""The metadata database: engine setup, read and write transactions, error mapping.

SQLite (a file, WAL) is the embedded default; PostgreSQL (``postgresql+psycopg://``) the
shared deployment. Writers on SQLite serialize on ``BEGIN IMMEDIATE``: the write lock is
taken when the transaction starts, so a writer waits (up to the busy timeout) instead of
failing with "database is locked" when it first writes after reading.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session

from datavc.errors import BackendUnavailable, CorruptData, InvalidArgument

WRITE_OPTION = "datavc_write"
"""Execution option that makes a SQLite transaction start with ``BEGIN IMMEDIATE``."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 10

Dialect = Literal["sqlite", "postgresql"]

# Up to the *last* "@": a password with an unescaped "@" in it is still hidden whole.
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:).*@")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and display)."""
    return _PASSWORD_IN_URL.sub(r"\1***@", url)


_redact = redact_url


def parse_url(url: str) -> URL:
    """Parse and normalise a metadata database URL.

    ``postgres://`` and ``postgresql://`` mean ``postgresql+psycopg://``.

    Raises:
        InvalidArgument: the URL is malformed, or names an unsupported database or driver.
    """
    raw = url.strip()
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    try:
        parsed = make_url(raw)
        parsed.port  # noqa: B018 -- a non-numeric port only fails when read
    except (ArgumentError, ValueError) as err:
        raise InvalidArgument(f"malformed database URL {_redact(url)!r}: {err}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise InvalidArgument(
                f"unsupported SQLite driver {driver!r} in {_redact(url)!r}; use sqlite:///PATH"
            )
        if parsed.database in (None, "", ":memory:") or parsed.database.startswith("file:"):
            raise InvalidArgument(
                f"database URL {_redact(url)!r} names no file; use sqlite:////absolute/path/to/datavc.db"
            )
        return parsed.set(drivername="sqlite")
    if backend == "postgresql":
        if driver not in ("", "psycopg"):
            raise InvalidArgument(
                f"unsupported PostgreSQL driver {driver!r} in {_redact(url)!r}; use postgresql+psycopg://"
            )
        if not parsed.database:
            raise InvalidArgument(f"database URL {_redact(url)!r} names no database")
        return parsed.set(drivername="postgresql+psycopg")
    raise InvalidArgument(
        f"unsupported database URL {_redact(url)!r}: use sqlite:///PATH or postgresql+psycopg://HOST/DB"
    )


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Let the "begin" listener emit BEGIN itself; pysqlite's own transaction handling
    # would begin late (first DML) and always DEFERRED.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _ensure_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable at checkpoints, never corrupt
    finally:
        cursor.close()


def _ensure_wal(cursor: Any) -> None:
    """Switch the file to WAL (persistent: ``init`` does it once; later opens only read it).

    The switch needs an exclusive lock that the busy timeout does not wait for, so several
    processes opening a fresh file at once can get "database is locked": retry with
    jittered backoff until the busy timeout has passed.
    """
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err).lower() and "busy" not in str(err).lower():
                raise
            if time.monotonic() >= deadline:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.5)


_WRITE_QUEUES: dict[str, threading.RLock] = {}
_WRITE_QUEUES_LOCK = threading.Lock()


def _write_queue(path: str | None) -> threading.RLock | None:
    """The lock that this process's writers to the SQLite file ``path`` queue on.

    SQLite makes a writer that finds the write lock taken poll for it, sleeping 1, 2, 5,
    ... up to 100 ms between tries, so under contention the lock sits free while waiters
    sleep: eight threads writing to one branch were slower than the same writes in
    sequence. Threads of one process (several clients, a server's request threads)
    instead wait on this lock, which hands over the moment it is released; SQLite's own
    lock still orders them against other processes. Reentrant, so a write opened inside
    another one on the same thread behaves as before (SQLite's busy timeout decides).
    """
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    key = os.path.realpath(path)
    with _WRITE_QUEUES_LOCK:
        lock = _WRITE_QUEUES.get(key)
        if lock is None:
            lock = _WRITE_QUEUES[key] = threading.RLock()
        return lock


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


class Database:
    """A metadata database: an engine plus read and write transactions.

    Args:
        url: ``sqlite:////abs/path.db`` or ``postgresql+psycopg://user:pw@host:port/db``
            (``postgresql://`` and ``postgres://`` are accepted too).

    ``Database(url)`` only configures; nothing connects until first use. Use
    ``Database.open(url)`` to also bring the schema up to date.

    Raises:
        InvalidArgument: a malformed or unsupported URL.
    """

    def __init__(self, url: str) -> None:
        self.url: URL = parse_url(url)
        self.dialect: Dialect = "sqlite" if self.url.get_backend_name() == "sqlite" else "postgresql"
        self.url_for_display: str = self.url.render_as_string(hide_password=True)
        if self.dialect == "sqlite":
            self.engine: Engine = create_engine(self.url)
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            connect_args: dict[str, Any] = {"application_name": "datavc"}
            if "connect_timeout" not in self.url.query:
                connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
            self.engine = create_engine(
                self.url,
                pool_pre_ping=True,
                pool_size=PG_POOL_SIZE,
                max_overflow=PG_MAX_OVERFLOW,
                pool_recycle=1800,
                connect_args=connect_args,
            )
        # Write sessions bind to this: on SQLite their transactions begin IMMEDIATE.
        self.write_engine: Engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._write_queue = _write_queue(self.url.database) if self.dialect == "sqlite" else None
        #: Whether this process's writers queue for the write lock (SQLite on a file): a
        #: finishing commit may then hold it while it rebases, as on PostgreSQL's row lock.
        self.queues_writers = self._write_queue is not None

    @classmethod
    def open(cls, url: str) -> Database:
        """Connect to ``url`` and apply pending migrations (cheap when already current).

        Raises:
            InvalidArgument: a malformed or unsupported URL.
            BackendUnavailable: the database cannot be reached, or its schema is newer than
                this version of datavc.
        """
        from datavc.db import migrate

        db = cls(url)
        try:
            with db.translate_errors():
                migrate.upgrade(db.engine)
        except BaseException:
            db.dispose()
            raise
        return db

    def __repr__(self) -> str:
        return f"Database({self.url_for_display!r})"

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session in a read transaction; whatever happens, it is rolled back at exit.

        Objects loaded in it stay readable after the block (detached; lazy loads raise).

        Raises:
            BackendUnavailable: the database cannot be reached.
        """
        # Closing (not rolling back) the session ends the transaction with a rollback yet
        # leaves loaded objects readable, detached, after the block.
        with self.translate_errors(), Session(self.engine, expire_on_commit=False) as session:
            session.connection()  # connect and BEGIN now, so connection errors surface here
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in a write transaction: committed at exit, rolled back on an exception.

        On SQLite the transaction holds the database's write lock from its start.

        Raises:
            BackendUnavailable: the database cannot be reached (or, on SQLite, stays locked
                by another writer for longer than the busy timeout).
        """
        queue = self._write_queue
        if queue is not None and not queue.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise BackendUnavailable(
                f"SQLite database {self.url.database} stayed locked by another writer of this process "
                f"for over {SQLITE_BUSY_TIMEOUT_MS // 1000} s; check for a stuck datavc operation"
            )
        try:
            with (
                self.translate_errors(),
                Session(self.write_engine, expire_on_commit=False) as session,
                session.begin(),
            ):
                session.connection()  # BEGIN (IMMEDIATE) now: wait for the write lock up front
                yield session
        finally:
            if queue is not None:
                queue.release()

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Turn lost or refused connections into ``BackendUnavailable``; pass other errors on."""
        try:
            yield
        except DBAPIError as err:
            if self._is_corrupt(err.orig):
                raise CorruptData(self._corrupt_message(err.orig)) from err
            if not self._is_unavailable(err):
                raise
            raise BackendUnavailable(self._unavailable_message(err)) from err
        except sqlite3.DatabaseError as err:  # raised raw from the connect hook
            if self._is_corrupt(err):
                raise CorruptData(self._corrupt_message(err)) from err
            if isinstance(err, sqlite3.OperationalError):
                raise BackendUnavailable(f"cannot open SQLite database {self.url.database} ({err})") from err
            raise

    def _is_corrupt(self, orig: BaseException | None) -> bool:
        """SQLite's answer for a file that is not (or no longer) a database."""
        if self.dialect != "sqlite" or not isinstance(orig, sqlite3.DatabaseError):
            return False
        text = str(orig).lower()
        return "not a database" in text or "malformed" in text or "file is encrypted" in text

    def _corrupt_message(self, orig: BaseException | None) -> str:
        return (
            f"metadata database {self.url.database} is corrupt ({orig}); restore it from a "
            "backup together with its object store (see docs/concepts.md, Moving a store)"
        )

    def _is_unavailable(self, err: DBAPIError) -> bool:
        if err.connection_invalidated:
            return True
        if not isinstance(err, OperationalError):
            return False
        if self.dialect == "sqlite":
            text = str(err.orig).lower()
            return "unable to open" in text or "locked" in text or "disk i/o" in text
        # psycopg raises OperationalError for connection failures; a deadlock or a
        # serialization failure also is one in DB-API terms but has an SQLSTATE class 40.
        sqlstate = getattr(err.orig, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith(("08", "57P", "53"))

    def _unavailable_message(self, err: DBAPIError) -> str:
        detail = " ".join(str(err.orig).split())
        if self.url.password:
            detail = detail.replace(str(self.url.password), "***")
        if self.dialect == "sqlite":
            path = self.url.database
            if "locked" in detail.lower():
                return (
                    f"SQLite database {path} stayed locked by another writer for over "
                    f"{SQLITE_BUSY_TIMEOUT_MS // 1000} s ({detail}); check for a stuck datavc process"
                )
            return (
                f"cannot open SQLite database {path} ({detail}); "
                "check that its directory exists and is writable"
            )
        where = f"{self.url.host or 'localhost'}:{self.url.port or 5432}"
        return (
            f"cannot reach PostgreSQL database {self.url.database!r} at {where} as user "
            f"{self.url.username!r} ({detail}); check that the server is running and that the "
            f"URL's host, port, user and password are right: {self.url_for_display}"
        )
