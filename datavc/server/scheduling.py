"""The scheduler thread of ``datavc serve``: pipeline jobs run where the store is served.

Why: a team that runs only ``datavc serve`` must still get its pipelines run. Commits made
through the server queue their jobs in the database (in the commit's transaction); this
thread claims and runs them exactly as ``datavc daemon`` does
(:func:`datavc.pipelines.scheduler.serve_jobs`). Claiming is what keeps it safe next to a
separate daemon, or a second server on the same store: a job is claimed by one scheduler
only (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a write lock on SQLite), so it never runs
twice. ``serve --no-scheduler`` leaves the jobs to a daemon elsewhere.

A database that goes away for a while does not end the server: the thread logs one warning
and starts again after ``RETRY`` seconds.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from datavc.client import Client
from datavc.errors import DatavcError

log = logging.getLogger("datavc.serve.scheduler")

RETRY = 5.0  # seconds before the scheduler starts again after a database or store error


def run_scheduler(client: Client, stop: threading.Event, poll: float = 1.0) -> None:
    """Claim and run jobs until ``stop`` is set (the job running then is finished first)."""
    from datavc.pipelines.scheduler import serve_jobs

    def ended(job: str, state: str) -> None:
        log.info("job %s: %s", job, state)

    while not stop.is_set():
        try:
            serve_jobs(client.context, stop, poll=poll, on_job=ended)
        except (DatavcError, SQLAlchemyError, OSError) as err:
            log.warning("the scheduler stopped: %s; starting again in %.0f s", err, RETRY)
            stop.wait(RETRY)


def scheduler_thread(client: Client, stop: threading.Event, poll: float = 1.0) -> threading.Thread:
    """A (not yet started) thread running :func:`run_scheduler`."""
    return threading.Thread(
        target=run_scheduler, args=(client, stop, poll), name="datavc-scheduler", daemon=True
    )
