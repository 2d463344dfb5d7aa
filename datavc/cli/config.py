"""Store options: ``config get|set KEY [VALUE]`` (one key so far: ``pipelines.run``)."""

from __future__ import annotations

import click

from datavc.cli.app import App, pass_app
from datavc.cli.render import echo_json, json_option

KEYS = ("pipelines.run",)


@click.group()
def config() -> None:
    """Read and change store options (kept in the store's database, shared by its users)."""


@config.command("get")
@click.argument("key", type=click.Choice(KEYS))
@json_option
@pass_app
def get(app: App, key: str, as_json: bool) -> None:
    """Print a store option: pipelines.run is inline (commands run the jobs they trigger)
    or daemon ('datavc run' or 'datavc daemon' runs them)."""
    value = app.client.pipelines_run_mode()
    if as_json:
        echo_json({key: value})
    else:
        click.echo(value)


@config.command("set")
@click.argument("key", type=click.Choice(KEYS))
@click.argument("value", type=click.Choice(["inline", "daemon"]))
@pass_app
def set_(app: App, key: str, value: str) -> None:
    """Change a store option for every user of the store."""
    click.echo(f"{key} = {app.client.pipelines_run_mode(value)}")


COMMANDS = (config,)
