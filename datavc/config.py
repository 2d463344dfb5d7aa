"""Where a datavc store lives and what it is made of.

A store is a ``.datavc/`` directory holding ``config.json``: the metadata database URL
and the object store URL. ``datavc init`` writes it; every other command finds it like
git finds a repo: ``--home``, else ``DATAVC_HOME``, else ``.datavc/`` in the current
directory or a parent. Embedded default: ``.datavc/metadata.db`` (SQLite) and
``.datavc/objects`` (a local object directory). Credentials never go in this file: they
come from the environment (AWS_*, the database URL's own settings, PGPASSWORD...).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datavc.errors import AlreadyExists, InvalidArgument, StoreNotFound
from storage.fileio import atomic_write

DIRNAME = ".datavc"
CONFIG = "config.json"
HOME_ENV = "DATAVC_HOME"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """A store's configuration as written in ``.datavc/config.json``."""

    home: Path  # the .datavc directory
    db: str
    objects: str
    cache: str | None = None  # local read-through cache for remote objects
    executor: dict[str, Any] = field(default_factory=dict)  # {"kind": "local" | "kubernetes", ...}

    @property
    def root(self) -> Path:
        """The directory that contains ``.datavc``."""
        return self.home.parent


def default_urls(home: Path) -> tuple[str, str]:
    return f"sqlite:///{home / 'metadata.db'}", str(home / "objects")


def create(
    path: str | os.PathLike[str], db: str | None, objects: str | None, executor: dict[str, Any] | None = None
) -> StoreConfig:
    """Write a new ``.datavc/config.json`` under ``path``.

    Raises:
        AlreadyExists: a store is already there.
    """
    home = Path(path).absolute() / DIRNAME
    if (home / CONFIG).exists():
        raise AlreadyExists(f"a datavc store already exists in {home}")
    default_db, default_objects = default_urls(home)
    if db and "://" not in db:
        raise InvalidArgument(f"invalid database URL {db!r}: use sqlite:///PATH or postgresql://...")
    cfg = StoreConfig(
        home,
        db or default_db,
        objects or default_objects,
        str(home / "cache") if objects and objects.startswith("s3://") else None,
        dict(executor or {}),
    )
    home.mkdir(parents=True, exist_ok=True)
    doc = {"version": 1, "db": cfg.db, "objects": cfg.objects, "cache": cfg.cache, "executor": cfg.executor}
    atomic_write(home / CONFIG, (json.dumps(doc, indent=2) + "\n").encode(), fsync=False)
    return cfg


def load(home: Path) -> StoreConfig:
    """Read ``home/config.json`` (``home`` is a ``.datavc`` directory).

    Raises:
        StoreNotFound: no config there; InvalidArgument: unreadable config.
    """
    try:
        doc = json.loads((home / CONFIG).read_text())
    except FileNotFoundError:
        raise StoreNotFound(f"no datavc store in {home} (run 'datavc init')") from None
    except (OSError, ValueError) as err:
        raise InvalidArgument(f"cannot read {home / CONFIG}: {err}") from None
    return StoreConfig(
        home, str(doc["db"]), str(doc["objects"]), doc.get("cache"), dict(doc.get("executor") or {})
    )


def find(path: str | os.PathLike[str] | None = None) -> StoreConfig:
    """The store for ``path`` (a store root or its .datavc), ``DATAVC_HOME``, or the cwd upward.

    Raises:
        StoreNotFound: none found.
    """
    if path is None:
        path = os.environ.get(HOME_ENV) or None
    if path is not None:
        p = Path(path).absolute()
        return load(p if p.name == DIRNAME else p / DIRNAME)
    cwd = Path.cwd()
    for d in (cwd, *cwd.parents):
        if (d / DIRNAME / CONFIG).is_file():
            return load(d / DIRNAME)
        state = d / ".datavc-checkout" / "state.json"
        if state.is_file():  # inside a working copy: its store
            try:
                home = json.loads(state.read_text()).get("home")
            except (OSError, ValueError):
                home = None
            if home:
                return load(Path(home))
    raise StoreNotFound(f"no datavc store in {cwd} or any parent (run 'datavc init', or set {HOME_ENV})")
