"""Schedulers: claim pending jobs and run them — in the foreground (``run``) or as a daemon.

Claiming locks the pipeline row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers anyway) and sets ``pipelines.running_job``, so two
schedulers never run the same job, nor two jobs of one pipeline at once; a pipeline's
jobs run in the order they were triggered. A job whose scheduler stopped sending
heartbeats (killed, machine lost) is put back after ``lease`` and resumes where it was:
datums it finished are not run again.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import uuid4

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from datavc.context import Context, now
from datavc.db.models import Job, Pipeline
from datavc.errors import DatavcError
from datavc.pipelines import commit_sets, cron, lineage_events, orphans, presence
from datavc.pipelines.executors import executor_for
from datavc.pipelines.runner import run_job

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=float(os.environ.get("DATAVC_JOB_LEASE", "30")))


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:6]}"


def reclaim_stale(ctx: Context, lease: timedelta = DEFAULT_LEASE) -> int:
    """Put back running jobs whose scheduler has not sent a heartbeat for ``lease``.

    First, what the dead scheduler left running on this host is killed and its scratch
    removed (``orphans.clean_up_job``): a job whose orphan will not die is not put back,
    so a datum never runs twice at once.
    """
    cutoff = now() - lease
    stale_cond = (Job.state == "running") & ((Job.heartbeat_at.is_(None)) | (Job.heartbeat_at < cutoff))
    with ctx.db.read() as s:
        candidates = s.scalars(select(Job.id).where(stale_cond)).all()
    ready = [job_id for job_id in candidates if orphans.clean_up_job(ctx, job_id)]
    if not ready:
        return 0
    with ctx.db.write() as s:
        stale = s.execute(select(Job.id, Job.pipeline_id).where(stale_cond, Job.id.in_(ready))).all()
        for job_id, pipeline_id in stale:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == "running")
                .values(state="created", worker=None)
            )
            s.execute(
                update(Pipeline)
                .where(Pipeline.id == pipeline_id, Pipeline.running_job == job_id)
                .values(running_job=None)
            )
    return len(stale)


def claim(ctx: Context, worker: str, pipeline: str | None = None) -> str | None:
    """Claim the oldest ready job of a pipeline nobody is running a job of; None if there is none.

    A job of a commit set waits while a job of its set upstream is pending, and its inputs
    are resolved to the set's commits here (``commit_sets.readiness``); a job that cannot
    run on consistent inputs (an upstream job of its set failed) is marked killed.
    """
    waiting = exists().where(Job.pipeline_id == Pipeline.id, Job.state == "created")
    q = (
        select(Pipeline)
        .where(Pipeline.state == "running", Pipeline.running_job.is_(None), waiting)
        .order_by(Pipeline.id)
        .with_for_update(skip_locked=True, of=Pipeline)
    )
    if pipeline is not None:
        q = q.where(Pipeline.name == pipeline)
    with ctx.db.write() as s:
        for p in s.scalars(q).all():
            job = _next_ready(s, p)
            if job is None:
                continue
            t = now()
            s.execute(
                update(Job)
                .where(Job.id == job, Job.state == "created")
                .values(
                    state="running",
                    worker=worker,
                    started_at=func.coalesce(Job.started_at, t),
                    heartbeat_at=t,
                )
            )
            p.running_job = job
            return job
        return None


def _next_ready(s: Session, p: Pipeline) -> str | None:
    """The pipeline's oldest waiting job if it may run now (its inputs resolved), else None."""
    while True:
        job = s.scalars(
            select(Job)
            .where(Job.pipeline_id == p.id, Job.state == "created")
            .order_by(Job.created_at, Job.id)
            .limit(1)
        ).first()
        if job is None:
            return None
        r = commit_sets.readiness(s, job)
        if r.state == "wait":
            return None  # a pipeline's jobs run in order: the next one waits too
        if r.state == "unrunnable":
            s.execute(
                update(Job)
                .where(Job.id == job.id, Job.state == "created")
                .values(state="killed", finished_at=now(), message=f"not run: {r.reason}")
            )
            continue
        inputs = json.dumps(r.inputs, sort_keys=True)
        if inputs != job.inputs:
            job.inputs = inputs
        return job.id


def pending_jobs(ctx: Context) -> int:
    """Jobs created or running (by anyone) on running pipelines."""
    with ctx.db.read() as s:
        return (
            s.scalar(
                select(func.count())
                .select_from(Job)
                .join(Pipeline, and_(Pipeline.id == Job.pipeline_id, Pipeline.state == "running"))
                .where(Job.state.in_(("created", "running")))
            )
            or 0
        )


@dataclass
class RunReport:
    """What a scheduler run did."""

    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _loop(
    ctx: Context,
    stop: threading.Event,
    idle: Callable[[], bool],
    lease: timedelta,
    on_job: Callable[[str, str], None] | None,
) -> RunReport:
    """Claim and run jobs until ``stop`` is set or ``idle()`` (called when nothing is claimable) says so."""
    report = RunReport()
    worker = worker_id()
    executor = executor_for(ctx, ctx.executor_settings)
    while not stop.is_set():
        reclaim_stale(ctx, lease)
        job = claim(ctx, worker)
        if job is None:
            if idle():
                break
            continue
        lineage_events.job_started(ctx, job)  # OpenLineage START/COMPLETE/FAIL/ABORT; off unless configured
        state = run_job(ctx, job, worker, executor)
        lineage_events.job_ended(ctx, job, state)
        if state == "lost":
            continue  # another scheduler owns it now
        (report.succeeded if state == "success" else report.failed).append(job)
        if on_job is not None:
            on_job(job, state)
    return report


def run_until_idle(
    ctx: Context,
    *,
    lease: timedelta = DEFAULT_LEASE,
    stop: threading.Event | None = None,
    wait_for_others: bool = True,
    poll: float = 0.2,
    on_job: Callable[[str, str], None] | None = None,
) -> RunReport:
    """Run jobs until none is pending (also waiting for jobs other schedulers are running)."""

    cron.tick(ctx)  # ticks that came due while nothing ran

    def idle() -> bool:
        if wait_for_others and pending_jobs(ctx):
            time.sleep(poll)
            return False
        return True

    return _loop(ctx, stop or threading.Event(), idle, lease, on_job)


def daemon(
    ctx: Context,
    *,
    poll: float = 1.0,
    lease: timedelta = DEFAULT_LEASE,
    on_job: Callable[[str, str], None] | None = None,
) -> RunReport:
    """Process jobs as they arrive until SIGTERM or SIGINT; the running job is finished first (drain)."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    old_term = signal.signal(signal.SIGTERM, handler)
    old_int = signal.signal(signal.SIGINT, handler)
    try:
        return serve_jobs(ctx, stop, poll=poll, lease=lease, on_job=on_job)
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


def serve_jobs(
    ctx: Context,
    stop: threading.Event,
    *,
    poll: float = 1.0,
    lease: timedelta = DEFAULT_LEASE,
    on_job: Callable[[str, str], None] | None = None,
) -> RunReport:
    """Process jobs as they arrive until ``stop`` is set; the running job is finished first.

    What ``daemon`` runs, without touching signals, so that ``datavc serve`` can run it on a
    thread of its own (signals belong to the main thread). Several of these, in one process
    or on several hosts, share a store safely: each job is claimed by one (``claim``).
    """

    def idle() -> bool:
        stop.wait(poll)
        cron.tick(ctx)
        return False

    ended = threading.Event()
    beat = threading.Thread(target=_announce, args=(ctx, ended), name="datavc-daemon-beat", daemon=True)
    beat.start()
    try:
        return _loop(ctx, stop, idle, lease, on_job)
    finally:
        ended.set()
        beat.join(timeout=5)
        try:
            presence.daemon_gone(ctx)
        except (DatavcError, SQLAlchemyError) as err:
            log.warning("could not record that the daemon stopped: %s", err)


def _announce(ctx: Context, stop: threading.Event) -> None:
    """Tell commands a daemon runs the jobs (``daemon.seen``), also while a long job runs."""
    while True:
        try:
            presence.daemon_beat(ctx, None)
        except (DatavcError, SQLAlchemyError) as err:
            log.warning("daemon heartbeat failed: %s", err)  # the next beat may succeed
        if stop.wait(presence.DAEMON_BEAT.total_seconds()):
            return
