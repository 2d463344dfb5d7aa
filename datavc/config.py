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


DB_ENV_PREFIX = "env:"
"""``--db env:VAR``: config.json records the variable's name; its value is read at every open."""


def db_url(cfg: StoreConfig) -> str:
    """The database URL to connect to: ``cfg.db``, or the environment variable it names.

    Raises:
        InvalidArgument: ``env:VAR`` with ``VAR`` unset or empty.
    """
    if not cfg.db.startswith(DB_ENV_PREFIX):
        return cfg.db
    var = cfg.db.removeprefix(DB_ENV_PREFIX)
    value = os.environ.get(var, "").strip()
    if not value:
        raise InvalidArgument(
            f"the store's database URL is read from ${var} (config: {cfg.db}), which is not set"
        )
    return value


def _refuse_password(db: str) -> None:
    from datavc.db.session import parse_url, redact_url

    if db.startswith(DB_ENV_PREFIX):
        var = db.removeprefix(DB_ENV_PREFIX)
        if not var or not var.replace("_", "a").isalnum():
            raise InvalidArgument(f"invalid --db {db!r}: use env:VARIABLE_NAME")
        return
    if parse_url(db).password:  # "user:@host" (empty) holds no secret
        raise InvalidArgument(
            f"the database URL {redact_url(db)} contains a password, and datavc never writes one into "
            "config.json; give it another way: set PGPASSWORD, put it in a passfile (~/.pgpass or "
            "$PGPASSFILE), or keep the whole URL in an environment variable and pass --db env:VAR "
            "(e.g. --db env:DATAVC_DB)"
        )


def plan(
    path: str | os.PathLike[str], db: str | None, objects: str | None, executor: dict[str, Any] | None = None
) -> StoreConfig:
    """The configuration ``init`` would write under ``path``; nothing is written yet.

    Raises:
        AlreadyExists: a store is already there; InvalidArgument: a malformed URL, or a
            database URL that holds a password.
    """
    home = Path(path).absolute() / DIRNAME
    if (home / CONFIG).exists():
        raise AlreadyExists(f"a datavc store already exists in {home}")
    default_db, default_objects = default_urls(home)
    if db and "://" not in db and not db.startswith(DB_ENV_PREFIX):
        raise InvalidArgument(
            f"invalid database URL {db!r}: use sqlite:///PATH, postgresql://... or env:VARIABLE"
        )
    if db:
        _refuse_password(db)
    return StoreConfig(
        home,
        db or default_db,
        objects or default_objects,
        str(home / "cache") if objects and objects.startswith("s3://") else None,
        dict(executor or {}),
    )


def make_home(cfg: StoreConfig) -> set[str] | Path:
    """Create ``cfg.home`` (mode 0700) for ``init``.

    Returns:
        The names already in it if it existed (what a failed init keeps), else the topmost
        directory created now (what a failed init removes).

    Raises:
        InvalidArgument: it cannot be created (no such parent, permission denied, ...).
    """
    home = cfg.home
    top = home
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    try:
        if home.is_dir():
            before = set(os.listdir(home))
            os.chmod(home, 0o700)
            return before
        home.mkdir(mode=0o700, parents=True)
        os.chmod(home, 0o700)  # mkdir's mode is masked by the umask
    except OSError as err:
        raise InvalidArgument(f"cannot create a store in {home}: {err.strerror or err}") from None
    return top


def undo_home(cfg: StoreConfig, before: set[str] | Path) -> None:
    """After a failed ``init``: remove what it created (only that)."""
    import shutil

    home = cfg.home
    if isinstance(before, Path):
        shutil.rmtree(before, ignore_errors=True)
        return
    try:
        names = set(os.listdir(home)) - before
    except OSError:
        return
    for name in names:
        p = home / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def write(cfg: StoreConfig) -> None:
    """Write ``cfg.home/config.json`` (mode 0600) atomically: the last step of ``init``."""
    doc = {"version": 1, "db": cfg.db, "objects": cfg.objects, "cache": cfg.cache, "executor": cfg.executor}
    atomic_write(cfg.home / CONFIG, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o600)


def create(
    path: str | os.PathLike[str], db: str | None, objects: str | None, executor: dict[str, Any] | None = None
) -> StoreConfig:
    """Plan and write a new ``.datavc/config.json`` under ``path`` (no database or objects).

    Raises:
        AlreadyExists: a store is already there; InvalidArgument: see :func:`plan`.
    """
    cfg = plan(path, db, objects, executor)
    make_home(cfg)
    write(cfg)
    return cfg


def load(home: Path) -> StoreConfig:
    """Read ``home/config.json`` (``home`` is a ``.datavc`` directory).

    Raises:
        StoreNotFound: no config there; InvalidArgument: unreadable config.
    """
    try:
        doc = json.loads((home / CONFIG).read_text())
    except FileNotFoundError:
        raise StoreNotFound(str(home), f"no datavc store in {home} (run 'datavc init')") from None
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
    raise StoreNotFound(
        str(cwd), f"no datavc store in {cwd} or any parent (run 'datavc init', or set {HOME_ENV})"
    )
