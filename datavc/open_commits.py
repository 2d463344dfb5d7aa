"""Open commits: listing them, and expiring the abandoned ones.

A commit stays *open* while writers add to it; a ``put`` killed half-way leaves one
behind, and its objects stay pinned (gc marks open commits' trees) until it is finished
or aborted. Every open commit expires ``open_commit_max_age`` after it started (a store
setting, default one day): from then on it can no longer be edited or finished
(:class:`~datavc.errors.CommitExpired`), and ``gc`` aborts it so its objects can go.

Why the same age bounds gc's grace period: a writer uploads objects first and publishes
them (moves the open commit's tree) afterwards, and it can only publish while its commit
is younger than the max age. So every object a writer will still publish was uploaded or
touched less than ``open_commit_max_age`` ago, and a grace period at least that long
never deletes it. gc refuses a shorter grace without ``--force``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from datavc import settings
from datavc.context import Context, now
from datavc.db.models import Commit
from datavc.errors import CommitExpired


def cutoff(s: Session) -> datetime:
    """Open commits started before this are expired."""
    return now() - settings.open_commit_max_age(s)


def live(s: Session) -> ColumnElement[bool]:
    """SQL condition for compare-and-swaps on an open commit: it has not expired."""
    return Commit.created_at > cutoff(s)


def check_live(s: Session, c: Commit) -> None:
    """Raise :class:`CommitExpired` if the open commit ``c`` is past the store's max age."""
    max_age = settings.open_commit_max_age(s)
    if c.created_at <= now() - max_age:
        raise CommitExpired(
            f"commit {c.id} was started at {c.created_at.isoformat(timespec='seconds')} and expired "
            f"after the store's open_commit_max_age ({_human(max_age)}); abort it and start a new one"
        )


def expire(ctx: Context, *, dry_run: bool = False) -> int:
    """Abort every expired open commit (only count them with ``dry_run``); returns how many."""
    with ctx.db.read() as s:  # the common case, nothing expired, takes no write lock
        found = len(s.scalars(select(Commit.id).where(Commit.state == "open", ~live(s))).all())
    if dry_run or not found:
        return found
    with ctx.db.write() as s:
        rows = list(s.scalars(select(Commit).where(Commit.state == "open", ~live(s))))
        for c in rows:
            s.delete(c)
        return len(rows)


def max_age(ctx: Context) -> timedelta:
    with ctx.db.read() as s:
        return settings.open_commit_max_age(s)


def _human(d: timedelta) -> str:
    secs = d.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size and secs % size == 0:
            return f"{int(secs // size)}{unit}"
    return f"{secs:g}s"


human = _human
