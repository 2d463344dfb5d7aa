"""``datavc tag create|list|delete``."""

from __future__ import annotations

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, name_address, ref
from datavc.cli.render import echo_json, json_option, local_time, print_table, short
from datavc.names import check_name


@click.group()
def tag() -> None:
    """Create, list and delete tags (names for commits)."""


@tag.command()
@click.argument("target", metavar="REPO@REF")
@click.argument("name")
@json_option
@pass_app
def create(app: App, target: str, name: str, as_json: bool) -> None:
    """Name the commit REF resolves to (REPO alone means REPO@main)."""
    addr = address(target, path=False)
    t = app.client.create_tag(addr.repo, ref(addr), name)
    if as_json:
        echo_json(t.to_json())
    else:
        click.echo(f"tagged {t.repo}@{t.commit} as {t.name}")


@tag.command("list")
@click.argument("repo")
@json_option
@pass_app
def list_(app: App, repo: str, as_json: bool) -> None:
    """List REPO's tags."""
    tags = app.client.list_tags(check_name(repo, "repo"))
    if as_json:
        echo_json([t.to_json() for t in tags])
        return
    print_table(
        ("TAG", "COMMIT", "CREATED", "BY"),
        ((t.name, short(t.commit), local_time(t.created_at), t.created_by) for t in tags),
    )


@tag.command()
@click.argument("target", metavar="REPO@NAME")
@pass_app
def delete(app: App, target: str) -> None:
    """Delete a tag (the commit stays)."""
    repo, name = name_address(target, "tag")
    app.client.delete_tag(repo, name)
    click.echo(f"deleted tag {repo}@{name}")


COMMANDS = (tag,)
