"""What every service call needs: the metadata database, the object store, who is acting."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from datavc import errors
from datavc.db.session import Database
from storage import errors as serr
from storage.store import ObjectStore


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
        self.store = store
        self.home = home  # the store's .datavc directory, when opened from one
        self.executor_settings: dict[str, Any] = {}  # config.json's "executor" (kind, namespace, ...)
        self.user = user or current_user()
        self._empty: str | None = None

    @property
    def empty_tree(self) -> str:
        if self._empty is None:
            with storage_errors():
                self._empty = self.store.empty_tree()
        return self._empty

    def close(self) -> None:
        self.store.close()
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
        raise errors.CorruptData(str(err)) from err
    except serr.ObjectNotFound as err:
        raise errors.Integrity(f"stored data is missing: {err}") from err
    except serr.BackendUnavailable as err:
        raise errors.BackendUnavailable(str(err)) from err
    except serr.StoreConfigError as err:
        raise errors.InvalidArgument(str(err)) from err
