"""Whether a daemon is running: it refreshes ``daemon.seen`` (a store setting) every few seconds.

Commands that run triggered jobs inline (``datavc.pipelines.inline``) leave them to a live
daemon instead; a daemon that stops removes the mark.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete

from datavc import settings
from datavc.context import Context, now
from datavc.db.models import StoreSetting

DAEMON_SEEN = "daemon.seen"
DAEMON_BEAT = timedelta(seconds=2)
DAEMON_ALIVE = timedelta(seconds=10)  # several beats: a daemon busy with a long job still beats


def daemon_beat(ctx: Context, last: datetime | None) -> datetime:
    """Refresh ``daemon.seen`` if the last beat is older than ``DAEMON_BEAT``; returns its time."""
    t = now()
    if last is not None and t - last < DAEMON_BEAT:
        return last
    with ctx.db.write() as s:
        settings.put(s, DAEMON_SEEN, t.isoformat())
    return t


def daemon_gone(ctx: Context) -> None:
    """A daemon that stops says so (commands run their jobs inline again at once)."""
    with ctx.db.write() as s:
        s.execute(delete(StoreSetting).where(StoreSetting.key == DAEMON_SEEN))


def daemon_alive(ctx: Context) -> bool:
    with ctx.db.read() as s:
        raw = settings.get(s, DAEMON_SEEN)
    if raw is None:
        return False
    try:
        seen = datetime.fromisoformat(raw)
    except ValueError:
        return False  # not ours to trust: treat as no daemon
    return seen.tzinfo is not None and now() - seen < DAEMON_ALIVE
