"""Fixtures shared by the datavc tests: one metadata database of each kind per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.db import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh, empty metadata database: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'datavc.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """``Database.open(db_url)``: migrated and ready."""
    database = Database.open(db_url)
    yield database
    database.dispose()


DEPLOYMENTS = ["sqlite+local", "postgresql+local", "postgresql+s3"]


def open_deployment(kind: str, root: Path, request: pytest.FixtureRequest) -> Client:
    """``Client.init(root, ...)`` for one deployment kind; PG and S3 are started only when needed."""
    if kind == "sqlite+local":
        return Client.init(root)
    pg: str = request.getfixturevalue("pg_url")
    if kind == "postgresql+local":
        return Client.init(root, db=pg)
    s3: str = request.getfixturevalue("s3_url")
    return Client.init(root, db=pg, objects=s3)


@pytest.fixture(params=DEPLOYMENTS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    """A fresh store in ``tmp_path/store``: SQLite + local objects, PostgreSQL + local, PostgreSQL + S3."""
    c = open_deployment(request.param, tmp_path / "store", request)
    yield c
    c.close()
