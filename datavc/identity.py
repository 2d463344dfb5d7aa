"""Store identity: an object store and its metadata database are a pair, and every open checks it.

``init`` draws one store id and writes it into both halves: a row in the database
(``store_settings.store_id``) and a marker document in the object store
(``datavc-identity.json``, beside ``datavc-store.json``). Every open compares them and
refuses (:class:`StoreMismatch`, exit 6) when they differ, when the database is missing,
empty or has no schema beside an object store, or when the object store is empty or
foreign beside a database. Only ``init`` creates a schema: a deleted or truncated
``metadata.db`` is never silently recreated (gc would then see no commit and delete every
object). ``init`` on a non-empty object store is refused (exit 4) unless it joins that
store's own database (same id).

Stores created before ids existed are *adopted* on their first open: when the database
has no id and the object store no marker, the database gets a new id and the marker is
written from it. Adoption is refused (as a mismatch) when the database holds no commit
while the object store holds objects: that is exactly a lost database.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from datavc import settings
from datavc.config import StoreConfig, db_url
from datavc.context import storage_errors
from datavc.db import migrate
from datavc.db.session import Database
from datavc.errors import AlreadyExists, Integrity
from storage.backends import open_backend
from storage.hashing import XXH3_128
from storage.store import CONFIG_NAME, ObjectStore

MARKER = "datavc-identity.json"
"""The object store's half of the pair: ``{"store_id": ...}``."""

MOVE_HINT = "see 'Moving a store' in docs/concepts.md"


class StoreMismatch(Integrity):
    """The metadata database and the object store are not one store's two halves."""


@dataclass(frozen=True, slots=True)
class ObjectsState:
    """What an object store location holds, read without creating anything."""

    url: str
    store_id: str | None  # its marker
    has_config: bool  # datavc-store.json
    objects: int  # how many objects, counted up to 2
    empty: bool  # nothing at all


@dataclass(frozen=True, slots=True)
class DbState:
    schema: bool  # alembic_version present
    store_id: str | None
    has_commits: bool


def new_store_id() -> str:
    return uuid4().hex


def _local_root(url: str) -> Path | None:
    if url == "memory://" or url.startswith("s3://"):
        return None
    return Path(url.removeprefix("file://")).absolute()


def _marker_id(data: bytes | None, where: str) -> str | None:
    if data is None:
        return None
    try:
        doc = json.loads(data)
        sid = doc["store_id"]
        if not isinstance(sid, str) or not sid:
            raise ValueError(sid)
        return sid
    except (ValueError, KeyError, TypeError):
        raise StoreMismatch(f"store id marker {MARKER} in {where} is unreadable") from None


def probe_objects(url: str) -> ObjectsState | None:
    """What ``url`` holds, creating nothing; None for ``memory://`` (nothing to pair with).

    Raises:
        BackendUnavailable: the object store cannot be reached.
    """
    if url == "memory://":
        return None
    root = _local_root(url)
    if root is not None:
        if not root.exists():
            return ObjectsState(url, None, False, 0, True)
        if not root.is_dir():
            return ObjectsState(url, None, False, 0, False)
        entries = sorted(os.listdir(root))
        marker = root / MARKER
        sid = _marker_id(marker.read_bytes() if marker.is_file() else None, url)
        count = 0
        objects_dir = root / "objects"
        if objects_dir.is_dir():
            for top in os.listdir(objects_dir):
                sub = objects_dir / top
                if not sub.is_dir() or os.listdir(sub):
                    count = 2  # at least one fan-out directory with content
                    break
        tmp_dir = root / "tmp"
        bare = (
            set(entries) <= {"objects", "tmp"}
            and count == 0
            and not (tmp_dir.is_dir() and os.listdir(tmp_dir))
        )
        return ObjectsState(url, sid, (root / CONFIG_NAME).is_file(), count, bare)
    with storage_errors():
        backend = open_backend(url)
        try:
            sid = _marker_id(backend.read_meta(MARKER), url)
            has_config = backend.read_meta(CONFIG_NAME) is not None
            count = 0
            for _ in backend.iter_ids():
                count += 1
                if count >= 2:
                    break
        finally:
            backend.close()
    return ObjectsState(url, sid, has_config, count, sid is None and not has_config and count == 0)


def probe_db(db: Database) -> DbState:
    """Whether ``db`` has a schema, its store id, whether it has commits; creates nothing.

    A missing or 0-byte SQLite file is not even opened (opening would create it).

    Raises:
        BackendUnavailable: unreachable; CorruptData: not a database.
    """
    if db.dialect == "sqlite":
        path = Path(str(db.url.database))
        try:
            if path.stat().st_size == 0:
                return DbState(False, None, False)
        except FileNotFoundError:
            return DbState(False, None, False)
        except OSError as err:
            raise StoreMismatch(f"cannot read metadata database {path}: {err.strerror}") from None
    with db.translate_errors(), db.engine.connect() as conn:
        revision = migrate.current_revision(conn)
        if revision is None:
            return DbState(False, None, False)
        sid = None
        if revision not in ("0001", "0002"):
            sid = conn.execute(
                text("SELECT value FROM store_settings WHERE key = :k"), {"k": settings.STORE_ID}
            ).scalar()
        has_commits = conn.execute(text("SELECT 1 FROM commits LIMIT 1")).first() is not None
        conn.rollback()
    return DbState(True, sid, has_commits)


def _write_marker(url: str, store_id: str) -> None:
    with storage_errors():
        backend = open_backend(url)
        try:
            backend.write_meta(MARKER, json.dumps({"store_id": store_id}).encode() + b"\n")
        finally:
            backend.close()


def _db_store_id(db: Database, *, adopt: bool) -> str | None:
    """The database's store id; with ``adopt``, draw one if it has none (racing openers agree)."""
    with db.read() as s:
        sid = settings.get(s, settings.STORE_ID)
    if sid is not None or not adopt:
        return sid
    try:
        with db.write() as s:
            if settings.get(s, settings.STORE_ID) is None:
                settings.put(s, settings.STORE_ID, new_store_id())
    except IntegrityError:
        pass  # another opener adopted it first
    with db.read() as s:
        return settings.get(s, settings.STORE_ID)


def open_pair(cfg: StoreConfig) -> tuple[Database, ObjectStore]:
    """Open an existing store's database and object store, checking that they are a pair.

    Raises:
        StoreMismatch: they are not one store's halves (exit 6), or the database is missing.
        BackendUnavailable: either cannot be reached.
    """
    db = Database(db_url(cfg))
    try:
        objs = probe_objects(cfg.objects)
        state = probe_db(db)
        where = f"metadata database {db.url_for_display}"
        if not state.schema:
            if objs is not None and not objs.empty:
                held = f"store {objs.store_id}" if objs.store_id else "a store's objects"
                raise StoreMismatch(
                    f"{where} is missing or empty, but object store {cfg.objects} holds {held}; "
                    f"restore the store's database (datavc never recreates it: {MOVE_HINT})"
                )
            raise StoreMismatch(f"{where} is missing or empty; run 'datavc init' to create a store")
        with db.translate_errors():
            migrate.upgrade(db.engine)
        if objs is not None:
            _check_pair(db, state, objs, cfg.objects, where)
        with storage_errors():
            store = ObjectStore.open(cfg.objects, cache_dir=cfg.cache)
    except BaseException:
        db.dispose()
        raise
    return db, store


def _check_pair(db: Database, state: DbState, objs: ObjectsState, url: str, where: str) -> None:
    sid = state.store_id
    if sid is None and objs.store_id is None and objs.has_config:
        if not state.has_commits and objs.objects > 1:
            raise StoreMismatch(
                f"{where} has no commits but object store {url} holds objects: this database may "
                f"not be the one these objects belong to; refusing to pair them ({MOVE_HINT})"
            )
        sid = _db_store_id(db, adopt=True)  # a store from before store ids: adopt it
        assert sid is not None
        _write_marker(url, sid)
        objs = probe_objects(url) or objs
    if sid is not None and objs.store_id == sid:
        return
    if objs.store_id is not None and sid is not None:
        raise StoreMismatch(
            f"{where} belongs to store {sid}, but object store {url} to store {objs.store_id}; "
            f"refusing to open them together ({MOVE_HINT})"
        )
    if objs.store_id is not None:
        raise StoreMismatch(
            f"{where} has no store id, but object store {url} belongs to store {objs.store_id}; "
            f"refusing to open them together ({MOVE_HINT})"
        )
    what = "is empty or missing" if objs.empty else "is not this store's (no store id marker)"
    raise StoreMismatch(f"object store {url} {what}, but {where} holds store {sid}; ({MOVE_HINT})")


def create_pair(
    cfg: StoreConfig, *, max_age_seconds: float | None = None, algorithm: str = XXH3_128
) -> tuple[Database, ObjectStore]:
    """``init``: create a new store, or join an existing one given both its halves.

    A new store needs an empty object store location and a database without a schema;
    joining needs the database and object store to carry the same store id.

    Raises:
        AlreadyExists: the object store or database belongs to another store, or the
            object store location is not empty.
        BackendUnavailable: either cannot be reached.
    """
    db = Database(db_url(cfg))
    try:
        objs = probe_objects(cfg.objects)
        state = probe_db(db)
        where = f"metadata database {db.url_for_display}"
        if state.schema:
            if objs is not None and state.store_id is not None and objs.store_id == state.store_id:
                with db.translate_errors():
                    migrate.upgrade(db.engine)
                with storage_errors():
                    return db, ObjectStore.open(cfg.objects, cache_dir=cfg.cache)
            owner = f"store {state.store_id}" if state.store_id else "a datavc store"
            if objs is not None and objs.store_id is not None:
                raise AlreadyExists(
                    f"{where} already holds {owner} and object store {cfg.objects} belongs to store "
                    f"{objs.store_id}; init joins a store only with both of its own halves"
                )
            raise AlreadyExists(
                f"{where} already holds {owner}; init creates a store only in a database "
                f"without one, or joins it with its own object store (--objects)"
            )
        if objs is not None and not objs.empty:
            held = f"store {objs.store_id}" if objs.store_id else "data"
            raise AlreadyExists(
                f"object store {cfg.objects} is not empty (it holds {held}); init creates a store only "
                f"in an empty location, or joins a store with its own database (--db)"
            )
        sid = new_store_id()
        with db.translate_errors():
            migrate.upgrade(db.engine)
        try:
            with db.write() as s:
                settings.put(s, settings.STORE_ID, sid)
                if max_age_seconds is not None:
                    settings.put(s, settings.OPEN_COMMIT_MAX_AGE, repr(float(max_age_seconds)))
            with storage_errors():
                store = ObjectStore.init(cfg.objects, cache_dir=cfg.cache, algorithm=algorithm)
            _write_marker(cfg.objects, sid)
        except BaseException:
            _drop_schema(db)
            raise
    except BaseException:
        db.dispose()
        raise
    return db, store


def _drop_schema(db: Database) -> None:
    """Undo a half-made init on a server database (a SQLite file is removed with its directory)."""
    if db.dialect == "sqlite":
        db.dispose()
        return
    try:
        with db.translate_errors():
            migrate.downgrade(db.engine, "base")
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    except Exception:  # best effort: the original error is what the user needs
        pass


def check(db: Database, store: ObjectStore) -> None:
    """Check again that ``store`` carries ``db``'s store id (gc does, right before deleting).

    Raises:
        StoreMismatch
    """
    if store.backend.url == "memory://" or type(store.backend).__name__ == "MemoryBackend":
        return
    with db.read() as s:
        sid = settings.get(s, settings.STORE_ID)
    with storage_errors():
        marker = _marker_id(store.backend.read_meta(MARKER), store.backend.url)
    if sid is None or marker != sid:
        raise StoreMismatch(
            f"object store {store.backend.url} (store {marker}) is not the pair of metadata database "
            f"{db.url_for_display} (store {sid}); gc refuses to run ({MOVE_HINT})"
        )


__all__ = ["MARKER", "StoreMismatch", "check", "create_pair", "open_pair", "probe_db", "probe_objects"]
