"""What every service call needs: the metadata database, the object store, who is acting.

Storage errors are translated into datavc's categories once, here, at the boundary where
the object store enters datavc (as httpx maps transport errors at its transport):
``Context.store`` is the store behind a proxy that translates every call, and every
writer, tree reader, iterator and file object obtained from it. Service code never
wraps a storage call by hand, so none can be forgotten.
"""

from __future__ import annotations

import getpass
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast
from uuid import uuid4

from datavc import errors
from datavc.db.session import Database
from storage import errors as serr
from storage.backends.base import Backend
from storage.store import ObjectStore
from storage.tree import Trees
from storage.writer import Writer


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A new 32-hex commit id."""
    return uuid4().hex


def current_user() -> str:
    return os.environ.get("DATAVC_USER") or getpass.getuser()


class Context:
    """The database, the object store and the acting user, shared by the service modules."""

    def __init__(
        self, db: Database, store: ObjectStore, user: str | None = None, home: str | None = None
    ) -> None:
        self.db = db
        from datavc import tree_pages  # the database's models: not needed to import this module

        # Datum output trees in tree packs: the database says which pack holds a page.
        store.tree_locator = tree_pages.locator(db)
        #: The untranslated store, for code that inspects storage errors itself (fsck).
        self.raw_store = store
        #: The store as services use it: every storage error arrives as a DatavcError.
        self.store = cast(ObjectStore, _Translated(store))
        self.home = home  # the store's .datavc directory, when opened from one
        self.executor_settings: dict[str, Any] = {}  # config.json's "executor" (kind, namespace, ...)
        self.user = user or current_user()
        self._empty: str | None = None

    @property
    def empty_tree(self) -> str:
        if self._empty is None:
            self._empty = self.store.empty_tree()
        return self._empty

    def close(self) -> None:
        self.raw_store.close()
        self.db.dispose()


@contextmanager
def storage_errors() -> Iterator[None]:
    """Translate storage errors into datavc's categories (``raise ... from``)."""
    try:
        yield
    except serr.PathConflict as err:
        raise errors.Conflict(str(err)) from err
    except serr.InvalidInput as err:
        raise errors.InvalidArgument(str(err)) from err
    except serr.CorruptObject as err:
        raise errors.CorruptData(str(err), err.oid) from err
    except serr.ObjectNotFound as err:
        raise errors.Integrity(f"stored data is missing: {err}") from err
    except serr.BackendUnavailable as err:
        raise errors.BackendUnavailable(str(err)) from err
    except serr.StoreConfigError as err:
        raise errors.InvalidArgument(str(err)) from err


class _Translated:
    """A proxy whose every call runs under :func:`storage_errors`.

    Results that do more storage work later are wrapped too: the store's trees and
    writers (also as context managers), iterators (errors surface while iterating) and
    file objects, and the backend. Plain values (entries, ids, counts) pass through.
    """

    __slots__ = ("_target",)

    def __init__(self, target: object) -> None:
        self._target: Any = target

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() sees the wrapped type (tests look at the backend's)
        return type(self._target)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return _wrap(value)

        def call(*args: Any, **kwargs: Any) -> Any:
            with storage_errors():
                return _wrap(value(*args, **kwargs))

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_target":
            object.__setattr__(self, name, value)
        else:  # e.g. a writer's progress callback
            setattr(self._target, name, value)

    def __enter__(self) -> Any:
        with storage_errors():
            return _wrap(self._target.__enter__())

    def __exit__(self, *exc: object) -> Any:
        with storage_errors():
            return self._target.__exit__(*exc)


def _wrap(value: Any) -> Any:
    if isinstance(value, ObjectStore | Trees | Writer | Backend):
        return _Translated(value)
    if isinstance(value, io.IOBase):
        return io.BufferedReader(_TranslatedReader(value))
    if isinstance(value, Iterator):
        return _iterate(value)
    return value


def _iterate(it: Iterator[Any]) -> Iterator[Any]:
    with storage_errors():
        yield from it


class _TranslatedReader(io.RawIOBase):
    """A file object over stored content whose reads and seeks translate storage errors."""

    def __init__(self, inner: io.IOBase) -> None:
        self._inner: Any = inner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self._inner.seekable())

    def tell(self) -> int:
        return cast(int, self._inner.tell())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with storage_errors():
            return cast(int, self._inner.seek(offset, whence))

    def readinto(self, b: Any) -> int:
        with storage_errors():
            return cast(int, self._inner.readinto(b))

    def close(self) -> None:
        self._inner.close()
        super().close()
