"""Compare-and-swap in SQL: an ``UPDATE ... WHERE <expected state>`` and how many rows it changed.

Every optimistic write in datavc (a branch head, an open commit's tree, a job's state)
is one conditional update; the row count says whether this writer won the race. A
writer that loses re-reads and tries again, a bounded number of times (:func:`retrying`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Update
from sqlalchemy.orm import Session

from datavc.errors import Conflict

T = TypeVar("T")


def updated(s: Session, stmt: Update) -> int:
    """Execute ``stmt`` and return how many rows it changed."""
    return cast(CursorResult[Any], s.execute(stmt)).rowcount


def cas(s: Session, stmt: Update) -> bool:
    """Execute a conditional update of one row; True if that row matched (this writer won)."""
    return updated(s, stmt) == 1


#: How often a compare-and-swap that keeps losing is tried before giving up, and the backoff.
ATTEMPTS = 100
BACKOFF_BASE = 0.002
BACKOFF_CAP = 0.1


def retrying(attempt: Callable[[], T | None], what: str) -> T:
    """Call ``attempt`` until it returns a value; None means it lost a race and should run again.

    Between attempts it sleeps a random time up to an exponentially growing cap ("full
    jitter"), so writers that keep colliding spread out instead of retrying in lockstep.

    Raises:
        Conflict: still losing after :data:`ATTEMPTS` attempts.
    """
    for n in range(ATTEMPTS):
        if n:
            time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**n)))
        result = attempt()
        if result is not None:
            return result
    raise Conflict(f"{what}: other writers kept winning; gave up after {ATTEMPTS} attempts, try again")
