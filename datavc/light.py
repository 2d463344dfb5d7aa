"""Light reads: ``datavc ls REPO@BRANCH`` without SQLAlchemy, so a listing starts in well under 0.15 s.

Importing SQLAlchemy's ORM and the service modules costs more than a listing itself. For the
common read (a plain branch name on an embedded SQLite store) two indexed queries with the
standard library's ``sqlite3`` find the commit's tree; the object store (``storage``, which
never imports SQLAlchemy) does the rest. Anything less simple is *declined*, not handled
halfway: a tag, a commit id, ``~N``, a PostgreSQL or remote store, a schema this datavc does
not know, a missing or mismatched store id, a missing path or any storage error. A declined
read goes to the full :class:`~datavc.client.Client`, which gives the same answer and the
same errors as always. So this module never produces an error message of its own.

Nothing here writes: the database is opened without the right to create it, and only
``SELECT`` runs.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from datavc import config
from datavc.errors import DatavcError
from datavc.info_core import FileInfo, StatusInfo
from datavc.names import check_path
from storage.errors import StorageError
from storage.fileio import atomic_write
from storage.store import ObjectStore, StoreConfig

if TYPE_CHECKING:
    from datavc.client import Client

#: Called with (local path, reason) for each local entry status skips (as :data:`datavc.client.Skipped`).
Skipped = Callable[[str, str], None]

#: The object store's store-id marker (``datavc.identity.MARKER``; a test checks they agree).
MARKER = "datavc-identity.json"
_VERSIONS = os.path.join(os.path.dirname(__file__), "db", "migrations", "versions")
#: In a remote store's cache directory: its configuration and id, as last read from the remote.
REMEMBERED = "light-store.json"
_BRANCH = re.compile(r"[A-Za-z0-9_-]{1,63}")


def known_revisions() -> frozenset[str]:
    """Schema revisions this datavc ships (file stems and their leading numbers).

    A plain directory listing: ``Path.glob`` would compile a pattern on every start."""
    out: set[str] = set()
    for name in os.listdir(_VERSIONS):
        stem, ext = os.path.splitext(name)
        if ext == ".py" and stem[:1].isdigit():
            out.add(stem)
            out.add(stem.split("_", 1)[0])
    return frozenset(out)


class LightReader:
    """Read-only listings over an embedded store, with the full client as the fallback."""

    def __init__(self, db: sqlite3.Connection, store: ObjectStore, fallback: Callable[[], Client]) -> None:
        self._db = db
        self._store = store
        self._fallback = fallback

    @classmethod
    def open(cls, home: str | None, fallback: Callable[[], Client]) -> LightReader | None:
        """A reader for the store the CLI would open, or None when only the full client will do."""
        if home is None and (
            os.environ.get("DATAVC_SERVER")
            or (os.environ.get("DATAVC_DB") and os.environ.get("DATAVC_OBJECTS"))
        ):
            return None
        try:
            cfg = config.find(home)
        except DatavcError:
            return None
        if not cfg.db.startswith("sqlite:///"):
            return None
        path = cfg.db.removeprefix("sqlite:///")
        if "?" in path or not os.path.isfile(path) or os.path.getsize(path) == 0:
            return None
        db: sqlite3.Connection | None = None
        store: ObjectStore | None = None
        try:
            db = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=30)
            revisions = [r for (r,) in db.execute("SELECT version_num FROM alembic_version")]
            if len(revisions) != 1 or revisions[0] not in known_revisions():
                raise LookupError("unknown schema")
            row = db.execute("SELECT value FROM store_settings WHERE key = 'store_id'").fetchone()
            if row is None:
                raise LookupError("no store id")
            if cfg.cache is not None:
                store = _remembered_store(cfg.objects, cfg.cache, str(row[0]))
                if store is not None:
                    return cls(db, store, fallback)
            store = ObjectStore.open(cfg.objects, cache_dir=cfg.cache)
            marker = store.backend.read_meta(MARKER)
            if marker is None or json.loads(marker).get("store_id") != row[0]:
                raise LookupError("not a known pair")  # the full client explains (or adopts)
            if cfg.cache is not None:
                _remember_store(cfg.objects, cfg.cache, str(row[0]), store.config)
            return cls(db, store, fallback)
        except (sqlite3.Error, StorageError, DatavcError, LookupError, ValueError, AttributeError, OSError):
            if store is not None:
                store.close()
            if db is not None:
                db.close()
            return None

    @property
    def store(self) -> ObjectStore:
        """The object store (what :func:`datavc.workdir.status` needs)."""
        return self._store

    def close(self) -> None:
        self._store.close()
        self._db.close()

    def status(self, dir: str | os.PathLike[str] = ".", *, on_skip: Skipped | None = None) -> StatusInfo:
        """:meth:`Client.status`: it reads only the checkout's index and local files."""
        from datavc import workdir

        try:
            return workdir.status(self, dir, on_skip=on_skip)
        except StorageError:
            return self._fallback().status(dir, on_skip=on_skip)  # reports it as the client does

    def list_files(
        self, repo: str, ref: str, path: str = "/", *, recursive: bool = False
    ) -> Iterator[FileInfo]:
        """:meth:`Client.list_files`; a one-directory listing of a branch is read here."""
        found = None if recursive else self._list_dir(repo, ref, path)
        if found is None:
            return self._fallback().list_files(repo, ref, path, recursive=recursive)
        return iter(found)

    def _list_dir(self, repo: str, ref: str, path: str) -> list[FileInfo] | None:
        if not _BRANCH.fullmatch(ref) or not _BRANCH.fullmatch(repo):
            return None
        try:
            p = check_path(path)
            row = self._db.execute(
                "SELECT c.id, c.tree FROM repos r JOIN branches b ON b.repo_id = r.id "
                "JOIN commits c ON c.id = b.head_id AND c.repo_id = r.id WHERE r.name = ? AND b.name = ?",
                (repo, ref),
            ).fetchone()
            if row is None:
                return None
            commit, tree = str(row[0]), str(row[1])
            e = self._store.get_entry(tree, p)
            if e is None:
                return None
            if not e.is_dir:
                return [FileInfo(repo, commit, "/" + p, e.kind, e.size, e.hash, e.count)]
            prefix = p + "/" if p else ""
            return [
                FileInfo(repo, commit, "/" + prefix + f.name, f.kind, f.size, f.hash, f.count)
                for f in self._store.trees.iter_dir(e.hash)
            ]
        except (sqlite3.Error, StorageError, DatavcError):
            return None  # the full client reports it properly


def _remembered_store(objects: str, cache: str, store_id: str) -> ObjectStore | None:
    """The remote store behind its cache, opened lazily from what :func:`_remember_store` kept.

    A listing whose tree objects are cached then needs no request and no S3 client (boto3
    costs more CPU than the listing). Nothing here is trusted: every object read is still
    verified against its id (a wrong remembered algorithm fails that check, and the read is
    declined to the full client), and a file that does not name this store and this
    database's store id, or does not parse, is ignored.
    """
    # Imported here: a local store's listing needs neither (nor the logging they import).
    from storage.backends.lazy import LazyBackend
    from storage.cache import CachedBackend
    from storage.hashing import HashAlgorithm

    try:
        with open(Path(cache) / REMEMBERED, "rb") as f:
            doc = json.loads(f.read(64 * 1024))
        if not isinstance(doc, dict) or doc.get("objects") != objects or doc.get("store_id") != store_id:
            return None
        config = StoreConfig.from_json(str(doc["config"]).encode(), objects)
        backend = CachedBackend(LazyBackend(objects), cache, HashAlgorithm(config.algorithm))
        return ObjectStore(backend, config)
    except (OSError, ValueError, KeyError, TypeError, StorageError):
        return None


def _remember_store(objects: str, cache: str, store_id: str, config: StoreConfig) -> None:
    """Keep a remote store's configuration and id beside its cache (best effort)."""
    doc = {"objects": objects, "store_id": store_id, "config": config.to_json().decode()}
    try:
        atomic_write(Path(cache) / REMEMBERED, json.dumps(doc).encode(), fsync=False)
    except OSError:
        pass  # only the next listing's speed depends on it
