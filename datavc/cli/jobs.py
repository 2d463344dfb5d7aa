"""Job commands: ``job list|inspect|logs|wait|stop|kill|restart``, ``datum list|restart``, and running work:
``run`` (until idle), ``daemon`` (until SIGTERM), ``wait`` (for a commit's downstream jobs)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, ref
from datavc.cli.render import (
    echo_json,
    json_option,
    local_time,
    plural,
    print_fields,
    print_table,
    short,
    stream_json,
)
from datavc.errors import InvalidArgument, NotFound, PipelineFailed

if TYPE_CHECKING:
    from datavc.client import Client
    from datavc.info import DatumInfo, JobInfo
    from datavc.pipelines.scheduler import RunReport

FAILED_STATES = ("failure", "killed")
COMMIT_SET_ID = re.compile(r"[0-9a-fA-F]{32}")


def human_duration(seconds: float | None) -> str:
    """``0.42s``, ``12.3s``, ``4m05s``, ``2h03m``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def _job_duration(j: JobInfo) -> float | None:
    if j.started_at is None or j.finished_at is None:
        return None
    return (j.finished_at - j.started_at).total_seconds()


def _datum_counts(j: JobInfo) -> str:
    return f"{j.datums_processed} processed, {j.datums_skipped} skipped, {j.datums_failed} failed"


def _echo_jobs(jobs: list[JobInfo], name_w: int = 0, state_w: int = 0) -> None:
    """One aligned line per job: pipeline, job id, state, datum counts."""
    name_w = max([name_w, *(len(j.pipeline) for j in jobs)])
    state_w = max([state_w, *(len(j.state) for j in jobs)])
    for j in jobs:
        click.echo(f"{j.pipeline:<{name_w}}  {short(j.id)}  {j.state:<{state_w}}  {_datum_counts(j)}")


def _failure(jobs: Iterable[JobInfo]) -> PipelineFailed | None:
    """One error naming every failed job with its message, or None when none failed."""
    failed = [j for j in jobs if j.state in FAILED_STATES]
    if not failed:
        return None
    parts = [
        f"job {j.id} of pipeline {j.pipeline} {'failed' if j.state == 'failure' else 'was ' + j.state}"
        + (f": {j.message}" if j.message else "")
        for j in failed
    ]
    return PipelineFailed("; ".join(parts))


# ----- job ---------------------------------------------------------------------------------


@click.group()
def job() -> None:
    """List, inspect, wait for, stop and restart jobs; read their logs."""


@job.command("list")
@click.argument("pipeline", required=False)
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=1), help="Show at most N jobs.")
@json_option
@pass_app
def list_jobs(app: App, pipeline: str | None, limit: int | None, as_json: bool) -> None:
    """Jobs, newest first (of PIPELINE, or of every pipeline), with their datum counts."""
    jobs = app.client.list_jobs(pipeline, limit)
    if as_json:
        echo_json([j.to_json() for j in jobs])
        return
    print_table(
        ("JOB", "PIPELINE", "VERSION", "STATE", "PROCESSED", "SKIPPED", "FAILED", "TOTAL", "CREATED", "TIME"),
        (
            (
                short(j.id),
                j.pipeline,
                str(j.pipeline_version),
                j.state,
                str(j.datums_processed),
                str(j.datums_skipped),
                str(j.datums_failed),
                str(j.datums_total),
                local_time(j.created_at),
                human_duration(_job_duration(j)),
            )
            for j in jobs
        ),
        justify_right=(2, 4, 5, 6, 7, 9),
    )


@job.command("inspect")
@click.argument("job_id", metavar="ID")
@json_option
@pass_app
def inspect_job(app: App, job_id: str, as_json: bool) -> None:
    """One job (a full id or a prefix of 6+ characters): state, inputs, output, datums, times."""
    j = app.client.inspect_job(job_id)
    if as_json:
        echo_json(j.to_json())
        return
    print_fields(
        [
            ("job", j.id),
            ("pipeline", f"{j.pipeline} (version {j.pipeline_version})"),
            ("state", j.state),
            ("message", j.message or "-"),
            ("trigger", j.trigger_commit or "-"),
            ("inputs", ", ".join(f"{name}={c or '(empty)'}" for name, c in sorted(j.inputs.items())) or "-"),
            ("output", j.output_commit or "-"),
            ("datums", f"{j.datums_total} total: {_datum_counts(j)}"),
            ("created", local_time(j.created_at)),
            ("started", local_time(j.started_at)),
            ("finished", local_time(j.finished_at)),
            ("time", human_duration(_job_duration(j))),
            ("worker", j.worker or "-"),
        ]
    )


@job.command("logs")
@click.argument("job_id", metavar="ID", required=False)
@click.option("--pipeline", "-p", metavar="NAME", help="The latest job of pipeline NAME (instead of ID).")
@click.option("--datum", "datum", metavar="ID", help="Only this datum (its id or a prefix).")
@click.option("--follow", "-f", is_flag=True, help="Print each datum's logs as it ends, until the job ends.")
@json_option
@pass_app
def job_logs(
    app: App, job_id: str | None, pipeline: str | None, datum: str | None, follow: bool, as_json: bool
) -> None:
    """The logs (stdout and stderr of the last try) of every datum of the job that ran.

    Give the job's ID, or --pipeline NAME for that pipeline's latest job.
    """
    if (job_id is None) == (pipeline is None):
        raise InvalidArgument("give a job ID or --pipeline NAME (one of them)")
    if pipeline is not None:
        latest = app.client.list_jobs(pipeline, 1)
        if not latest:
            raise NotFound(f"pipeline {pipeline!r} has no jobs yet")
        job_id = latest[0].id
    assert job_id is not None
    if follow and datum is not None:
        raise InvalidArgument("--follow shows every datum; drop --datum")
    logs = app.client.follow_job_logs(job_id) if follow else app.client.job_logs(job_id, datum)
    if as_json:
        stream_json(logs, lambda item: {"datum": item[0], "logs": item[1]})
        return
    for datum_id, text in logs:
        click.echo(f"==> datum {datum_id} <==")
        if text:
            click.echo(text, nl=not text.endswith("\n"))


@job.command("wait")
@click.argument("job_id", metavar="ID")
@click.option(
    "--timeout", type=click.FloatRange(min=0), metavar="SECONDS", help="Give up after SECONDS (exit 5)."
)
@json_option
@pass_app
def wait_job(app: App, job_id: str, timeout: float | None, as_json: bool) -> None:
    """Block until the job is done; exit 0 if it succeeded, 8 if it failed or was killed."""
    j = app.client.wait_job(job_id, timeout)
    if as_json:
        echo_json(j.to_json())
    else:
        _echo_jobs([j])
    err = _failure([j])
    if err is not None:
        raise err


@job.command("stop")
@click.argument("job_id", metavar="ID")
@json_option
@pass_app
def stop_job(app: App, job_id: str, as_json: bool) -> None:
    """End a created or running job now as killed: its running datums are killed, none
    starts again, nothing is committed. Exit 5 if it already ended in success or failure."""
    _echo_job(app.client.stop_job(job_id), as_json)


@job.command("kill")
@click.argument("job_id", metavar="ID")
@json_option
@pass_app
def kill_job(app: App, job_id: str, as_json: bool) -> None:
    """Same as 'job stop' (pachctl 1.x's name)."""
    _echo_job(app.client.kill_job(job_id), as_json)


@job.command("restart")
@click.argument("job_id", metavar="ID")
@json_option
@pass_app
def restart_job(app: App, job_id: str, as_json: bool) -> None:
    """Queue a new job over an ended job's input commits; datums that succeeded are skipped
    (so it runs what failed or never ran). Exit 5 while the job still runs."""
    _echo_job(app.client.restart_job(job_id), as_json)


def _echo_job(j: JobInfo, as_json: bool) -> None:
    if as_json:
        echo_json(j.to_json())
    else:
        _echo_jobs([j])


# ----- datum -------------------------------------------------------------------------------


@click.group()
def datum() -> None:
    """List the datums of a job (or preview a spec's), restart one."""


def _inputs(d: DatumInfo) -> str:
    return ", ".join(f"{name}:/{path.lstrip('/')}" for name, path, _hash in d.inputs) or "-"


@datum.command("restart")
@click.argument("job_id", metavar="JOB")
@click.argument("datum_id", metavar="DATUM")
@json_option
@pass_app
def restart_datum(app: App, job_id: str, datum_id: str, as_json: bool) -> None:
    """Run DATUM (an id or a prefix of 6+ characters) of an ended JOB again, even if it
    succeeded, in a new job over the same input commits."""
    _echo_job(app.client.restart_datum(job_id, datum_id), as_json)


@datum.command("list")
@click.argument("job_id", metavar="JOB", required=False)
@click.option(
    "-f",
    "--file",
    "spec_file",
    type=click.Path(dir_okay=False),
    help="Preview the datums of this spec instead.",
)
@json_option
@pass_app
def list_datums(app: App, job_id: str | None, spec_file: str | None, as_json: bool) -> None:
    """The job's datums: id prefix, state, tries, exit code, duration, input files.

    With -f SPEC: the datums the spec would make over its inputs' current heads, without
    running or creating anything (state 'new', or 'known' when the pipeline of that name
    already processed the datum and would skip it).
    """
    if (job_id is None) == (spec_file is None):
        raise InvalidArgument("give a JOB, or -f SPEC to preview a spec's datums (one of them)")
    if spec_file is not None:
        from datavc.pipelines.spec import PipelineSpec

        datums: Iterable[DatumInfo] = app.client.preview_datums(PipelineSpec.from_file(spec_file))
    else:
        assert job_id is not None
        datums = app.client.list_datums(job_id)
    if as_json:
        stream_json(datums, lambda d: d.to_json())
        return
    print_table(
        ("DATUM", "STATE", "TRIES", "EXIT", "TIME", "INPUTS"),
        (
            (
                short(d.id),
                d.state,
                str(d.tries),
                "-" if d.exit_code is None else str(d.exit_code),
                human_duration(d.duration),
                _inputs(d),
            )
            for d in datums
        ),
        justify_right=(2, 3, 4),
    )


# ----- running work ------------------------------------------------------------------------


def _report_jobs(client: Client, report: RunReport) -> list[JobInfo]:
    """The jobs a run ran, in the order they finished."""
    jobs = [client.inspect_job(j) for j in [*report.succeeded, *report.failed]]
    return sorted(jobs, key=lambda j: (j.finished_at is None, j.finished_at or j.created_at))


def _refuse_remote(client: Client, name: str) -> None:
    """Jobs run beside the store, never through ``DATAVC_SERVER``: refuse (exit 2) before
    anything contacts the server, so an unreachable server does not turn this into exit 7."""
    from datavc.remote import RemoteClient

    if isinstance(client, RemoteClient):
        getattr(client, name)()  # raises NotSupportedRemotely, saying where jobs run instead


@click.command()
@json_option
@pass_app
def run(app: App, as_json: bool) -> None:
    """Run pending jobs here until none is left, printing one line per job as it ends.

    Exit 0 when every job succeeded, 8 when one failed (see 'job logs ID').
    """
    client = app.client
    _refuse_remote(client, "run")
    name_w = max((len(p.name) for p in client.list_pipelines()), default=0)

    def finished(job_id: str, state: str) -> None:
        if not as_json:  # one line per job as it ends, aligned across pipelines
            _echo_jobs([client.inspect_job(job_id)], name_w, len("success"))

    report = client.run(on_job=finished)
    jobs = _report_jobs(client, report)
    if as_json:
        echo_json([j.to_json() for j in jobs])
    elif not jobs:
        click.echo("nothing to run")
    err = _failure(jobs)
    if err is not None:
        raise err


@click.command()
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="How often to look for new jobs when idle.",
)
@json_option
@pass_app
def daemon(app: App, poll: float, as_json: bool) -> None:
    """Run jobs as they arrive until SIGTERM or Ctrl-C; the running job finishes first.

    Prints one line per job as it ends (failed jobs are recorded; the daemon goes on).
    """
    client = app.client
    _refuse_remote(client, "daemon")  # one error line, no banner
    click.echo("datavc daemon: processing jobs; SIGTERM to stop", err=True)

    def finished(job_id: str, state: str) -> None:
        if not as_json:
            names = max((len(p.name) for p in client.list_pipelines()), default=0)
            _echo_jobs([client.inspect_job(job_id)], names, len("success"))
            sys.stdout.flush()

    report = client.daemon(poll, on_job=finished)
    jobs = _report_jobs(client, report)
    if as_json:
        echo_json([j.to_json() for j in jobs])
    click.echo(
        f"datavc daemon: stopped after {plural(len(jobs), 'job')} "
        f"({len(report.succeeded)} succeeded, {len(report.failed)} failed)",
        err=True,
    )


@click.command()
@click.argument("target", metavar="REPO@BRANCH|COMMIT-SET")
@click.option(
    "--timeout", type=click.FloatRange(min=0), metavar="SECONDS", help="Give up after SECONDS (exit 5)."
)
@json_option
@pass_app
def wait(app: App, target: str, timeout: float | None, as_json: bool) -> None:
    """Block until every job triggered by BRANCH's head, transitively downstream, is done.

    Something else runs the jobs ('datavc run' or 'datavc daemon'). Exit 0 when all
    succeeded, 8 when one failed or was killed. REPO alone means REPO@main. A 32-hex
    TARGET is a commit-set id (a user commit's id is its set's id): wait for every job
    of that set (write REPO@main for a repo named like one).
    """
    if COMMIT_SET_ID.fullmatch(target):
        info = app.client.wait_commit_set(target.lower(), timeout)
        if as_json:
            echo_json(info.to_json())
        else:
            from datavc.cli.commit_set import render_commit_set

            render_commit_set(info)
        set_err = _failure(info.jobs)
        if set_err is not None:
            raise set_err
        return
    addr = address(target, path=False)
    jobs = app.client.wait(addr.repo, ref(addr), timeout)
    if as_json:
        echo_json([j.to_json() for j in jobs])
    elif not jobs:
        click.echo(f"no jobs read {addr.repo}@{ref(addr)}")
    else:
        print_table(("PIPELINE", "JOB", "STATE"), ((j.pipeline, short(j.id), j.state) for j in jobs))
    err = _failure(jobs)
    if err is not None:
        raise err


COMMANDS = (job, datum, run, daemon, wait)
