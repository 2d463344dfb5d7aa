"""``datavc auth s3-key create|list|revoke``: access keys for the S3 gateway."""

from __future__ import annotations

from typing import Any

import click

from datavc.cli.app import App, pass_app
from datavc.cli.render import echo_json, json_option, local_time, print_table


def keys_of(app: App) -> Any:
    """The client when it is remote (it has the key methods), else a direct ``S3Keys``."""
    from datavc.remote import RemoteClient

    client = app.client
    if isinstance(client, RemoteClient):
        return client
    from datavc.s3keys import S3Keys

    return S3Keys(client.context)


@click.group("s3-key")
def s3_key() -> None:
    """Create, list and revoke S3 gateway access keys (AWS SigV4 key id + secret)."""


@s3_key.command("create")
@click.option("--user", "user_name", help="Whose key (default: yours; another user's needs admin).")
@click.option("--name", default="", help="A label for the key.")
@json_option
@pass_app
def create(app: App, user_name: str | None, name: str, as_json: bool) -> None:
    """Create a key and print its id and secret: the secret is shown this once."""
    k = keys_of(app).create_s3_key(user_name, name=name)
    if as_json:
        echo_json(k.to_json())
        return
    click.echo(f"aws_access_key_id = {k.access_key_id}")
    click.echo(f"aws_secret_access_key = {k.secret}")
    click.echo(
        f"S3 key {k.access_key_id} for {k.user}; store the secret now, it is not shown again", err=True
    )


@s3_key.command("list")
@click.option("--user", "user_name", help="Whose keys (admin; '*' for all). Default: yours.")
@json_option
@pass_app
def list_(app: App, user_name: str | None, as_json: bool) -> None:
    """List keys (ids and dates, never the secrets)."""
    keys = keys_of(app).list_s3_keys(user_name)
    if as_json:
        echo_json([k.to_json() for k in keys])
        return
    print_table(
        ("ACCESS KEY ID", "USER", "NAME", "CREATED", "REVOKED"),
        (
            (k.access_key_id, k.user, k.name or "-", local_time(k.created_at), local_time(k.revoked_at))
            for k in keys
        ),
    )


@s3_key.command("revoke")
@click.argument("access_key_id")
@json_option
@pass_app
def revoke(app: App, access_key_id: str, as_json: bool) -> None:
    """Revoke key ACCESS_KEY_ID now: the gateway refuses it from the next request on."""
    k = keys_of(app).revoke_s3_key(access_key_id)
    if as_json:
        echo_json(k.to_json())
    else:
        click.echo(f"revoked S3 key {k.access_key_id} of {k.user}")
