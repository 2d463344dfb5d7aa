"""Fixtures shared by the datavc tests: one metadata database of each kind per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.db import Database
from tests.datavc.helpers import DEPLOYMENTS, open_deployment


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


@pytest.fixture(params=DEPLOYMENTS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    """A fresh store in ``tmp_path/store``: SQLite + local objects, PostgreSQL + local, PostgreSQL + S3."""
    c = open_deployment(request.param, tmp_path / "store", request)
    yield c
    c.close()
