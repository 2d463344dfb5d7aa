"""Store-wide settings kept in the metadata database (``store_settings``): one place for all users.

``config.json`` is per checkout of the configuration (each user of a shared store has
their own); what must be the same for every writer lives here: the store id paired with
the object store's marker, and ``open_commit_max_age``.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from datavc.db.models import StoreSetting
from datavc.errors import CorruptData

STORE_ID = "store_id"
OPEN_COMMIT_MAX_AGE = "open_commit_max_age"

DEFAULT_OPEN_COMMIT_MAX_AGE = timedelta(days=1)
"""How long a commit may stay open; gc's grace may not be shorter (without --force)."""


def get(s: Session, key: str) -> str | None:
    return s.scalars(select(StoreSetting.value).where(StoreSetting.key == key)).one_or_none()


def put(s: Session, key: str, value: str) -> None:
    row = s.get(StoreSetting, key)
    if row is None:
        s.add(StoreSetting(key=key, value=value))
    else:
        row.value = value
    s.flush()


def open_commit_max_age(s: Session) -> timedelta:
    """The store's ``open_commit_max_age`` (seconds in the database; default one day).

    Raises:
        CorruptData: the stored value is not a positive number of seconds.
    """
    raw = get(s, OPEN_COMMIT_MAX_AGE)
    if raw is None:
        return DEFAULT_OPEN_COMMIT_MAX_AGE
    try:
        seconds = float(raw)
        if not 0 < seconds < 1e10:
            raise ValueError(raw)
    except ValueError:
        raise CorruptData(
            f"store setting {OPEN_COMMIT_MAX_AGE} is {raw!r}, not a number of seconds"
        ) from None
    return timedelta(seconds=seconds)
