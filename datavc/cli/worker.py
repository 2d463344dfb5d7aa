"""``datavc worker`` (what Kubernetes pods run) and ``datavc doctor``."""

from __future__ import annotations

import os

import click

from datavc.cli.app import App, pass_app
from datavc.cli.render import echo_json, json_option


@click.command()
@click.option("--job", "job_id", required=True, metavar="ID", help="The pipeline job.")
@click.option(
    "--shard",
    type=click.IntRange(min=0),
    envvar="JOB_COMPLETION_INDEX",
    required=True,
    help="The datum shard.",
)
@pass_app
def worker(app: App, job_id: str, shard: int) -> None:
    """Run one shard of a job's datums (what each Kubernetes pod runs).

    With DATAVC_SERVER and DATAVC_TOKEN (a job token, from the job's Secret) everything goes
    through the server and the pod holds no store credentials; otherwise the database and
    object store come from DATAVC_DB and DATAVC_OBJECTS or the usual store lookup. Exit 1
    when a datum failed, so Kubernetes retries the pod.
    """
    if os.environ.get("DATAVC_SERVER"):
        from datavc.remote import RemoteClient
        from datavc.remote_worker import run_remote_worker

        with RemoteClient.from_env() as client:
            code = run_remote_worker(client, job_id, shard)
    else:
        from datavc.pipelines.worker import run_worker

        code = run_worker(app.client.context, job_id, shard)
    if code:
        raise click.exceptions.Exit(code)


@click.command()
@json_option
@pass_app
def doctor(app: App, as_json: bool) -> None:
    """Check the database, the object store and (when used) Kubernetes access and permissions.

    With DATAVC_SERVER set, checks the server instead: reachable, TLS, ready, and the token
    (whose it is). Says in plain words what is wrong and how to fix it; exit 7 when a check
    failed, 9 when only the token was refused.
    """
    from datavc.doctor import TOKEN_CHECK
    from datavc.doctor import doctor as run_checks
    from datavc.errors import BackendUnavailable, Unauthenticated

    server = os.environ.get("DATAVC_SERVER")
    if server:
        token = os.environ.get("DATAVC_TOKEN")
        if not token:
            try:
                from datavc.remote import load_saved_token
            except ImportError:  # doctor says what to install
                pass
            else:
                token = load_saved_token(server)
        info = run_checks(server=server, token=token)
    else:
        info = run_checks(app.home)
    if as_json:
        echo_json({"ok": info.ok, **info.to_json()})
    else:
        for c in info.checks:
            click.echo(f"{'ok ' if c.ok else 'BAD'}  {c.name:<24} {c.detail}")
            if not c.ok and c.fix:
                click.echo(f"     {'':<24} fix: {c.fix}")
    if not info.ok:
        failed = [c.name for c in info.checks if not c.ok]
        if failed == [TOKEN_CHECK]:
            raise Unauthenticated("doctor found problems: " + ", ".join(failed))
        raise BackendUnavailable("doctor found problems: " + ", ".join(failed))


COMMANDS = [worker, doctor]
