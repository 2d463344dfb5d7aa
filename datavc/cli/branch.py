"""``datavc branch create|list|delete|reset|protect``."""

from __future__ import annotations

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import name_address, ref_option
from datavc.cli.render import echo_json, json_option, local_time, print_table, short
from datavc.errors import InvalidArgument
from datavc.names import check_name


@click.group()
def branch() -> None:
    """Create, list, delete, reset and protect branches."""


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
        ("BRANCH", "HEAD", "CREATED", "PROTECTION"),
        ((b.name, short(b.head), local_time(b.created_at), b.protection or "-") for b in branches),
    )


_FORCE = click.option(
    "--force", is_flag=True, help="Bypass the branch's protection (the owner role on a server)."
)


@branch.command()
@click.argument("target", metavar="REPO@NAME")
@_FORCE
@pass_app
def delete(app: App, target: str, force: bool) -> None:
    """Delete a branch; its commits stay reachable by id."""
    repo, name = name_address(target, "name")
    app.client.delete_branch(repo, name, force=force)
    click.echo(f"deleted branch {repo}@{name}")


@branch.command()
@click.argument("target", metavar="REPO@NAME")
@click.option("--to", "to", required=True, metavar="REF", help="The new head (REF or REPO@REF).")
@_FORCE
@json_option
@pass_app
def reset(app: App, target: str, to: str, force: bool, as_json: bool) -> None:
    """Move a branch head to REF directly (no new commit; recorded in the reflog)."""
    repo, name = name_address(target, "name")
    b = app.client.reset_branch(repo, name, ref_option(to, repo, "--to", verb="reset"), force=force)
    if as_json:
        echo_json(b.to_json())
    else:
        click.echo(f"{b.repo}@{b.name} now at {b.head or '(empty)'}")


@branch.command()
@click.argument("target", metavar="REPO@NAME")
@click.option(
    "--strict", is_flag=True, help="Also refuse deleting and resetting the branch (not only commits)."
)
@click.option("--off", is_flag=True, help="Remove the branch's protection.")
@json_option
@pass_app
def protect(app: App, target: str, strict: bool, off: bool, as_json: bool) -> None:
    """Protect a branch: it moves only by merge; commits, rollbacks, reverts and
    cherry-picks onto it are refused (exit 5) unless --force is given (and, on a server,
    by the repo's owner). With --strict, delete and reset are refused too."""
    repo, name = name_address(target, "name")
    if strict and off:
        raise InvalidArgument("give --strict or --off, not both")
    b = app.client.protect_branch(repo, name, "" if off else "strict" if strict else "merge")
    if as_json:
        echo_json(b.to_json())
    else:
        click.echo(f"{b.repo}@{b.name} protection: {b.protection or 'none'}")


COMMANDS = (branch,)
