"""``datavc repo create|list|inspect|delete``."""

from __future__ import annotations

import click

from datavc.cli.app import App, pass_app
from datavc.cli.render import echo_json, human_size, json_option, local_time, print_fields, print_table


@click.group()
def repo() -> None:
    """Create, list, inspect and delete repos."""


@repo.command()
@click.argument("name")
@click.option("-d", "--description", default="", metavar="TEXT", help="What the repo holds.")
@json_option
@pass_app
def create(app: App, name: str, description: str, as_json: bool) -> None:
    """Create repo NAME with an empty main branch."""
    info = app.client.create_repo(name, description)
    if as_json:
        echo_json(info.to_json())
    else:
        click.echo(f"created repo {info.name}")


@repo.command("list")
@json_option
@pass_app
def list_(app: App, as_json: bool) -> None:
    """List repos with the size and file count of their main branch."""
    repos = app.client.list_repos()
    if as_json:
        echo_json([r.to_json() for r in repos])
        return
    print_table(
        ("NAME", "SIZE", "FILES", "COMMITS", "CREATED", "DESCRIPTION"),
        (
            (
                r.name,
                human_size(r.size),
                str(r.file_count),
                str(r.commit_count),
                local_time(r.created_at),
                r.description,
            )
            for r in repos
        ),
        justify_right=(1, 2, 3),
    )


@repo.command()
@click.argument("name")
@json_option
@pass_app
def inspect(app: App, name: str, as_json: bool) -> None:
    """Show one repo: description, branches, size, file and commit counts."""
    r = app.client.inspect_repo(name)
    if as_json:
        echo_json(r.to_json())
        return
    print_fields(
        [
            ("name", r.name),
            ("description", r.description),
            ("created", f"{local_time(r.created_at)} by {r.created_by}"),
            ("branches", ", ".join(r.branches)),
            ("size", f"{human_size(r.size)} ({r.size} bytes)"),
            ("files", str(r.file_count)),
            ("commits", str(r.commit_count)),
            ("open commits", ", ".join(r.open_commits) or "-"),
        ]
    )


@repo.command()
@click.argument("name")
@click.option(
    "--force",
    is_flag=True,
    help="Delete a repo that has commits or that a pipeline uses (the pipeline stops).",
)
@pass_app
def delete(app: App, name: str, force: bool) -> None:
    """Delete repo NAME (one with commits needs --force; its data goes at the next gc).

    A repo a pipeline reads or writes is refused (exit 5); --force deletes it anyway and
    stops each such pipeline with the reason ('pipeline start' resumes it once the repo
    exists again).
    """
    app.client.delete_repo(name, force=force)
    click.echo(f"deleted repo {name}")


COMMANDS = (repo,)
