"""``datavc serve``, ``datavc login URL``, ``datavc logout``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import duration
from datavc.errors import InvalidArgument


def _direct_client(app: App):  # type: ignore[no-untyped-def]
    """The store ``serve`` serves: --home, DATAVC_DB + DATAVC_OBJECTS, or .datavc upward (never remote)."""
    from datavc.client import Client

    if app.home:
        return Client.open(app.home)
    db, objects = os.environ.get("DATAVC_DB"), os.environ.get("DATAVC_OBJECTS")
    if db and objects:
        return Client.from_urls(db, objects, cache=os.environ.get("DATAVC_CACHE") or None)
    return Client.open()


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="DATAVC_SERVE_HOST",
    help="Address to listen on. [env: DATAVC_SERVE_HOST]",
)
@click.option(
    "--port",
    default=8420,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="DATAVC_SERVE_PORT",
    help="Port to listen on. [env: DATAVC_SERVE_PORT]",
)
@click.option(
    "--s3-port",
    default=8421,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="DATAVC_S3_PORT",
    help="Port of the S3 gateway (same host and TLS as the API; 0: any free port, printed). "
    "[env: DATAVC_S3_PORT]",
)
@click.option("--no-s3", is_flag=True, help="Do not serve the S3 gateway.")
@click.option(
    "--s3-upload-max-age",
    default="24h",
    show_default=True,
    envvar="DATAVC_S3_UPLOAD_MAX_AGE",
    help="Delete multipart uploads untouched for this long (30m, 2h, 1d). [env: DATAVC_S3_UPLOAD_MAX_AGE]",
)
@click.option(
    "--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate (chain) for HTTPS."
)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key for HTTPS.")
@click.option(
    "--bootstrap-token-file",
    type=click.Path(dir_okay=False),
    help="Where the first admin token goes on a store with no users (default: .datavc/admin-token).",
)
@click.option(
    "--scheduler/--no-scheduler",
    default=True,
    show_default=True,
    envvar="DATAVC_SERVE_SCHEDULER",
    help="Run pipeline jobs in the server (as 'datavc daemon' does). Turn it off when a "
    "separate 'datavc daemon' runs them; both at once are safe too (a job runs once). "
    "[env: DATAVC_SERVE_SCHEDULER]",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@pass_app
def serve(
    app: App,
    host: str,
    port: int,
    s3_port: int,
    no_s3: bool,
    s3_upload_max_age: str,
    tls_cert: str | None,
    tls_key: str | None,
    bootstrap_token_file: str | None,
    scheduler: bool,
    log_level: str,
) -> None:
    """Serve the store over HTTP: the API at /api/v1, its OpenAPI document at /openapi.json,
    and the S3 gateway on its own port (--s3-port, default 8421; --no-s3 to turn it off).

    Pipeline jobs run in the server too (--no-scheduler: leave them to 'datavc daemon').
    On a store with no users, creates user `admin` and writes its token to a file only
    you can read; the file's path is printed, never the token. A port already in use
    stops it before anything is served (exit 7). SIGTERM stops it gracefully (exit 0).
    """
    try:
        from datavc.server import serve as _serve
    except ImportError as err:
        raise InvalidArgument(
            f"datavc serve needs the server extra: pip install 'datavc[server]' ({err})"
        ) from None
    if bool(tls_cert) != bool(tls_key):
        raise InvalidArgument("TLS needs both --tls-cert and --tls-key")
    max_age = duration(s3_upload_max_age, "--s3-upload-max-age")
    client = _direct_client(app)
    try:
        path = _serve.bootstrap(client, Path(bootstrap_token_file) if bootstrap_token_file else None)
        if path is not None:
            click.echo(f"created user admin; its token is in {path} (readable by you only)", err=True)
        listeners = _serve.listen(host, port, None if no_s3 else s3_port)
        scheme = "https" if tls_cert else "http"
        click.echo(f"serving on {scheme}://{host}:{listeners.api_port}", err=True)
        if listeners.s3_port is not None:
            click.echo(f"S3 gateway on {scheme}://{host}:{listeners.s3_port}", err=True)
        if scheduler:
            click.echo(
                "running pipeline jobs here (--no-scheduler to leave them to 'datavc daemon')", err=True
            )
        _serve.run(
            client,
            host,
            port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            log_level=log_level,
            listeners=listeners,
            upload_max_age=max_age,
            scheduler=scheduler,
        )
    finally:
        client.close()


@click.command()
@click.argument("url")
@click.option("--token-file", type=click.File("r"), help="Read the token from this file ('-' for stdin).")
def login(url: str, token_file: IO[str] | None) -> None:
    """Check a token against the server at URL and save it for DATAVC_SERVER=URL (file mode 0600).

    Without --token-file the token is asked for (not echoed).
    """
    from datavc.remote import RemoteClient, credentials_path, normalize_url
    from datavc.server_credentials import save_token

    url = normalize_url(url)
    if token_file is not None:
        secret = token_file.read().strip()
    elif sys.stdin.isatty():
        secret = click.prompt("token", hide_input=True).strip()
    else:
        secret = sys.stdin.readline().strip()
    if not secret:
        raise InvalidArgument("no token given")
    with RemoteClient(url, secret, verify=os.environ.get("DATAVC_CA_BUNDLE") or True) as remote:
        me = remote.whoami()
    save_token(url, secret)
    click.echo(f"logged in to {url} as {me['user']}; token saved in {credentials_path()}")
    click.echo(f"use it with: export DATAVC_SERVER={url}", err=True)


@click.command()
@click.argument("url", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def logout(url: str | None, as_json: bool) -> None:
    """Forget the token saved for URL (default: $DATAVC_SERVER, else every saved token)."""
    from datavc.remote import normalize_url
    from datavc.server_credentials import forget

    target = url or os.environ.get("DATAVC_SERVER") or None
    removed = forget(normalize_url(target) if target else None)
    if as_json:
        click.echo(json.dumps({"removed": removed}))
    elif removed:
        click.echo("logged out of " + ", ".join(removed))
    else:
        click.echo("no saved token to remove")


COMMANDS = (serve, login, logout)
