"""Running jobs inline: an embedded store needs no daemon for its pipelines to run.

The store option ``pipelines.run`` (``store_settings``) is ``inline`` or ``daemon``;
unset, it is ``inline`` on SQLite (an embedded store, one user) and ``daemon`` on
PostgreSQL (a shared store, where a daemon or ``datavc run`` is expected to run jobs).
After a command that may trigger jobs (``put``, ``commit``, ``pipeline create``...), the
CLI calls :func:`run_triggered`: in inline mode, with no daemon running, the pending jobs
run in the command's own process before it returns; otherwise the command says who will
run them. A running daemon says it is alive by refreshing ``daemon.seen`` every few
seconds (``datavc.pipelines.presence``), so a command never races a daemon for its jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from sqlalchemy import and_, select

from datavc import settings
from datavc.context import Context
from datavc.db.models import Job, Pipeline
from datavc.errors import InvalidArgument
from datavc.info import InlineOutcome
from datavc.pipelines import cron
from datavc.pipelines.presence import daemon_alive

PIPELINES_RUN = "pipelines.run"
RUN_MODES = ("inline", "daemon")
RunMode = Literal["inline", "daemon"]


def check_mode(value: str) -> RunMode:
    """``value`` as a run mode.

    Raises:
        InvalidArgument: not ``inline`` or ``daemon``.
    """
    if value == "inline":
        return "inline"
    if value == "daemon":
        return "daemon"
    raise InvalidArgument(f"{PIPELINES_RUN} must be 'inline' or 'daemon', not {value!r}")


def run_mode(ctx: Context) -> RunMode:
    """The store's ``pipelines.run`` (its default: inline on SQLite, daemon on PostgreSQL)."""
    with ctx.db.read() as s:
        raw = settings.get(s, PIPELINES_RUN)
    if raw is None:
        return "inline" if ctx.db.dialect == "sqlite" else "daemon"
    return check_mode(raw)


def set_run_mode(ctx: Context, value: str) -> RunMode:
    """Set the store's ``pipelines.run`` for every user of the store."""
    mode = check_mode(value)
    with ctx.db.write() as s:
        settings.put(s, PIPELINES_RUN, mode)
    return mode


def _pending(ctx: Context, since: datetime | None) -> list[str]:
    with ctx.db.read() as s:
        q = (
            select(Job.id)
            .join(Pipeline, and_(Pipeline.id == Job.pipeline_id, Pipeline.state == "running"))
            .where(Job.state == "created")
            .order_by(Job.created_at, Job.id)
        )
        if since is not None:
            q = q.where(Job.created_at >= since)
        return list(s.scalars(q).all())


def run_triggered(
    ctx: Context, since: datetime | None = None, on_job: Callable[[str, str], None] | None = None
) -> InlineOutcome:
    """Run pending jobs now if the store runs them inline and no daemon does; else list them.

    ``since``: only jobs created since then are listed as queued (those the command made).
    Returns the mode that applied (``inline``, ``daemon``: a daemon is running,
    ``queued``: nothing runs them yet) and the job ids it ran or found queued.
    """
    from datavc.pipelines.scheduler import run_until_idle

    if run_mode(ctx) == "inline" and not daemon_alive(ctx):
        cron.tick(ctx)  # cron ticks that came due are committed (and run) now too
        if not _pending(ctx, None):
            return InlineOutcome("inline", ())
        report = run_until_idle(ctx, wait_for_others=False, on_job=on_job)
        return InlineOutcome("inline", tuple(report.succeeded + report.failed))
    queued = tuple(_pending(ctx, since))
    return InlineOutcome("daemon" if daemon_alive(ctx) else "queued", queued)
