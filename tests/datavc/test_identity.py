"""Store identity: the metadata database and the object store are one store's pair, checked at every open."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from datavc import identity
from datavc.client import Client
from datavc.db import Database
from datavc.db.migrate import downgrade
from datavc.errors import AlreadyExists, Integrity
from datavc.identity import MARKER, StoreMismatch
from tests.datavc.conftest import DEPLOYMENTS, open_deployment


def _seed(c: Client) -> None:
    c.create_repo("r")
    c.put_file("r", "main", "/a", b"precious data " * 100)


def _objects_intact(c: Client) -> None:
    assert c.get_file("r", "main", "/a") == b"precious data " * 100
    assert c.fsck().ok


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_init_writes_one_store_id_into_both_halves(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with open_deployment(kind, tmp_path / "a", request) as c:
        db, store = c.context.db, c.context.store
        marker = json.loads(store.backend.read_meta(MARKER) or b"{}")
        state = identity.probe_db(db)
        assert state.store_id and marker["store_id"] == state.store_id
        identity.check(db, store)


def test_second_store_on_the_same_s3_prefix_is_refused(tmp_path: Path, s3_url: str) -> None:
    a = Client.init(tmp_path / "a", objects=s3_url)
    _seed(a)
    # B brings its own SQLite database: refused, and nothing of B is left behind.
    with pytest.raises(AlreadyExists, match="not empty"):
        Client.init(tmp_path / "b", objects=s3_url)
    assert not (tmp_path / "b").exists()
    _objects_intact(a)
    a.close()


def test_second_store_on_the_same_prefix_with_postgres_is_refused(
    tmp_path: Path, s3_url: str, pg_url: str
) -> None:
    a = Client.init(tmp_path / "a", db=pg_url, objects=s3_url)
    _seed(a)
    with pytest.raises(AlreadyExists):
        Client.init(tmp_path / "b", objects=s3_url)  # another database on A's prefix
    with pytest.raises(AlreadyExists):
        Client.init(tmp_path / "c", db=pg_url)  # A's database with another object store
    # Joining with both of A's own halves works and sees A's data.
    with Client.init(tmp_path / "d", db=pg_url, objects=s3_url) as d:
        _objects_intact(d)
    _objects_intact(a)
    a.close()


def test_init_on_a_non_empty_local_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(AlreadyExists, match="not empty"):
        Client.init(tmp_path / "s", objects=str(target))
    assert sorted(os.listdir(target)) == ["holiday.jpg"]


@pytest.mark.parametrize("damage", ["empty", "deleted"])
def test_empty_or_deleted_sqlite_database_is_refused_not_recreated(tmp_path: Path, damage: str) -> None:
    c = Client.init(tmp_path / "s")
    _seed(c)
    c.close()
    db_file = tmp_path / "s" / ".datavc" / "metadata.db"
    if damage == "empty":
        db_file.write_bytes(b"")
    else:
        db_file.unlink()
    with pytest.raises(StoreMismatch, match="missing or empty"):
        Client.open(tmp_path / "s")
    # Nothing was created, and the objects are all still there.
    assert not db_file.exists() or db_file.stat().st_size == 0
    assert sum(1 for _ in (tmp_path / "s" / ".datavc" / "objects" / "objects").rglob("*") if _.is_file()) > 0


def test_empty_postgres_database_is_refused(tmp_path: Path, pg_url: str) -> None:
    c = Client.init(tmp_path / "s", db=pg_url)
    _seed(c)
    c.close()
    with Database(pg_url) as db:
        downgrade(db.engine, "base")  # the schema is gone: an empty database
    with pytest.raises(StoreMismatch, match="missing or empty"):
        Client.open(tmp_path / "s")
    with Database(pg_url) as db:
        assert not identity.probe_db(db).schema  # open did not create one


@pytest.mark.parametrize("kind", ["sqlite+local", "postgresql+s3"])
def test_swapped_database_is_a_mismatch(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    a = open_deployment(kind, tmp_path / "a", request)
    _seed(a)
    a.close()
    # Another store's database under A's configuration.
    b = Client.init(tmp_path / "b")
    b.close()
    cfg = json.loads((tmp_path / "a" / ".datavc" / "config.json").read_text())
    cfg["db"] = f"sqlite:///{tmp_path / 'b' / '.datavc' / 'metadata.db'}"
    (tmp_path / "a" / ".datavc" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(StoreMismatch, match="belongs to store") as err:
        Client.open(tmp_path / "a")
    assert err.value.exit_code == 6


def test_missing_object_store_beside_a_database_is_a_mismatch(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "s")
    _seed(c)
    c.close()
    shutil.rmtree(tmp_path / "s" / ".datavc" / "objects")
    with pytest.raises(StoreMismatch, match="empty or missing"):
        Client.open(tmp_path / "s")


def test_gc_refuses_when_the_marker_changes_under_it(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "s")
    _seed(c)
    c.context.store.backend.write_meta(MARKER, b'{"store_id": "someone-else"}\n')
    with pytest.raises(StoreMismatch):
        c.gc(grace=timedelta(0), force=True)
    own = identity.probe_db(c.context.db).store_id
    c.context.store.backend.write_meta(MARKER, json.dumps({"store_id": own}).encode())
    _objects_intact(c)
    c.close()


def _make_legacy(root: Path) -> None:
    """Turn a store into one made before store ids: no marker, no id row."""
    (root / ".datavc" / "objects" / MARKER).unlink()
    with Database(f"sqlite:///{root / '.datavc' / 'metadata.db'}") as db, db.write() as s:
        from sqlalchemy import text

        s.execute(text("DELETE FROM store_settings"))


def test_a_store_from_before_store_ids_is_adopted_on_first_open(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "s")
    _seed(c)
    c.close()
    _make_legacy(tmp_path / "s")
    with Client.open(tmp_path / "s") as c:
        _objects_intact(c)
        identity.check(c.context.db, c.context.store)  # both halves carry the new id
    with Client.open(tmp_path / "s") as c:  # and the next open agrees
        _objects_intact(c)


def test_legacy_adoption_refuses_an_empty_database_beside_objects(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "s")
    _seed(c)
    c.delete_repo("r", force=True)  # the database has no commits, the objects are still there
    c.close()
    _make_legacy(tmp_path / "s")
    with pytest.raises(Integrity, match="has no commits"):
        Client.open(tmp_path / "s")


def test_init_with_sha256_ids(tmp_path: Path) -> None:
    with Client.init(tmp_path / "s", hash="sha256") as c:
        _seed(c)
        assert c.context.store.algorithm.name == "sha256"
    with Client.open(tmp_path / "s") as c:
        _objects_intact(c)
