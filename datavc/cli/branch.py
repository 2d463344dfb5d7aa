"""``datavc branch create|list|delete|reset``."""

from __future__ import annotations

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import name_address, ref_option
from datavc.cli.render import echo_json, json_option, local_time, print_table, short
from datavc.names import check_name


@click.group()
def branch() -> None:
    """Create, list, delete and reset branches."""


@branch.command()
@click.argument("target", metavar="REPO@NAME")
@click.option(
    "--from", "from_ref", metavar="REF", help="Start at REF (REF or REPO@REF). Default: main's head."
)
@json_option
@pass_app
def create(app: App, target: str, from_ref: str | None, as_json: bool) -> None:
    """Create branch NAME in REPO."""
    repo, name = name_address(target, "name")
    start = None if from_ref is None else ref_option(from_ref, repo, "--from", verb="branch")
    b = app.client.create_branch(repo, name, start)
    if as_json:
        echo_json(b.to_json())
    else:
        click.echo(f"created branch {b.repo}@{b.name} at {b.head or '(empty)'}")


@branch.command("list")
@click.argument("repo")
@json_option
@pass_app
def list_(app: App, repo: str, as_json: bool) -> None:
    """List REPO's branches and their heads."""
    branches = app.client.list_branches(check_name(repo, "repo"))
    if as_json:
        echo_json([b.to_json() for b in branches])
        return
    print_table(
        ("BRANCH", "HEAD", "CREATED"), ((b.name, short(b.head), local_time(b.created_at)) for b in branches)
    )


@branch.command()
@click.argument("target", metavar="REPO@NAME")
@pass_app
def delete(app: App, target: str) -> None:
    """Delete a branch; its commits stay reachable by id."""
    repo, name = name_address(target, "name")
    app.client.delete_branch(repo, name)
    click.echo(f"deleted branch {repo}@{name}")


@branch.command()
@click.argument("target", metavar="REPO@NAME")
@click.option("--to", "to", required=True, metavar="REF", help="The new head (REF or REPO@REF).")
@json_option
@pass_app
def reset(app: App, target: str, to: str, as_json: bool) -> None:
    """Move a branch head to REF directly (no new commit; recorded in the reflog)."""
    repo, name = name_address(target, "name")
    b = app.client.reset_branch(repo, name, ref_option(to, repo, "--to", verb="reset"))
    if as_json:
        echo_json(b.to_json())
    else:
        click.echo(f"{b.repo}@{b.name} now at {b.head or '(empty)'}")


COMMANDS = (branch,)
