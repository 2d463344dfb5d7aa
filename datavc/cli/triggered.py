"""After a command that may trigger jobs: run them inline, or say exactly what will run them.

``put``, ``rm``, ``cp``, ``commit``, ``finish-commit``, ``rollback`` and ``pipeline
create|update`` call :func:`settle` once their change is made. On a store whose
``pipelines.run`` is ``inline`` (the default for an embedded store) and with no daemon
running, the jobs run before the command returns, one line each on stdout (as
``datavc run`` prints them; none with ``--json``); a failed job makes the command exit 8
after its change was kept. Otherwise one line per queued job on stderr names what will
run it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from datavc.cli.app import App
from datavc.cli.render import short


def started() -> datetime:
    """The time a command begins its change: jobs created after it are the command's."""
    return datetime.now(UTC)


def settle(app: App, since: datetime, *, quiet: bool = False) -> None:
    """Run or report the jobs triggered since ``since`` (see the module docstring).

    Raises:
        PipelineFailed: a job run inline failed or was killed.
    """
    from datavc.cli.jobs import _echo_jobs, _failure

    client = app.client

    def finished(job_id: str, state: str) -> None:
        if not quiet:
            _echo_jobs([client.inspect_job(job_id)], 0, len("success"))

    outcome = client.run_triggered(since, on_job=finished)
    if outcome.mode == "inline":
        err = _failure(client.inspect_job(j) for j in outcome.jobs)
        if err is not None:
            raise err
        return
    for job_id in outcome.jobs:
        j = client.inspect_job(job_id)
        if outcome.mode == "daemon":
            how = "the running daemon will run it"
        else:
            how = "run 'datavc run' or start 'datavc daemon'"
        click.echo(f"job {short(j.id)} of pipeline {j.pipeline} queued: {how}", err=True)
