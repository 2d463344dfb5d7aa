"""``datavc ui``: the web console over the embedded store, on 127.0.0.1 only."""

from __future__ import annotations

import sys

import click

from datavc.cli.app import App, pass_app
from datavc.cli.server import _direct_client
from datavc.errors import InvalidArgument


@click.command()
@click.option(
    "--port",
    default=8421,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="DATAVC_UI_PORT",
    help="Port on 127.0.0.1. [env: DATAVC_UI_PORT]",
)
@pass_app
def ui(app: App, port: int) -> None:
    """Open the web console on this store at http://127.0.0.1:PORT/ui/ (this machine only).

    Writes a log-in link to .datavc/ui-link (mode 0600; also printed when stderr is a
    terminal) holding a token valid for 12 hours in the URL's #fragment, which the
    browser never sends to a server; the token is revoked when `ui` stops.
    The console is the same one `datavc serve` serves at /ui/.
    """
    try:
        from datavc.server import serve as _serve
    except ImportError as err:
        raise InvalidArgument(
            f"datavc ui needs the server extra: pip install 'datavc[server]' ({err})"
        ) from None
    client = _direct_client(app)
    try:
        token_id, secret = _serve.ui_token(client)
        try:
            link = f"http://127.0.0.1:{port}/ui/login#token={secret}"
            path = _serve.default_token_file(client).with_name("ui-link")
            _serve.write_secret(path, link)
            # The link holds a credential: shown on a terminal only, never into a redirected log.
            if sys.stderr.isatty():
                click.echo(f"console: {link}", err=True)
            click.echo(
                f"console on http://127.0.0.1:{port}/ui/ ; log-in link in {path} (yours only)", err=True
            )
            _serve.run(client, "127.0.0.1", port, log_level="warning")
        finally:
            _serve.revoke_ui_token(client, token_id)
    finally:
        client.close()


COMMANDS = (ui,)
