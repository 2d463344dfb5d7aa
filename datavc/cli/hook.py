"""``datavc hook add|list|delete|results``."""

from __future__ import annotations

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, name_address, ref
from datavc.cli.render import echo_json, escape, json_option, local_time, print_table
from datavc.errors import InvalidArgument
from datavc.names import check_name


@click.group()
def hook() -> None:
    """Hooks: pre-commit/pre-merge commands that may refuse a commit, post-commit/post-merge notifications."""


@hook.command()
@click.argument("target", metavar="REPO@NAME")
@click.option(
    "--event",
    required=True,
    type=click.Choice(["pre-commit", "pre-merge", "post-commit", "post-merge"]),
    help="When it runs.",
)
@click.option("--branches", default="*", show_default=True, help="A glob over the branch names it guards.")
@click.option(
    "--url", default=None, help="Post-hooks: POST the commit as JSON to this URL instead of a command."
)
@click.option("--image", default=None, help="The container image (for executors that run containers).")
@click.option("--timeout", type=click.FloatRange(min=0.001, max=3600), default=60.0, show_default=True)
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Environment for the command.")
@click.argument("cmd", nargs=-1)
@json_option
@pass_app
def add(
    app: App,
    target: str,
    event: str,
    branches: str,
    url: str | None,
    image: str | None,
    timeout: float,
    env_pairs: tuple[str, ...],
    cmd: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add hook NAME to REPO running CMD (after '--'); a failing pre-hook refuses the commit (exit 5).

    The command sees the candidate commit read-only in $DATAVC_COMMIT_DIR and the branch
    head it would replace in $DATAVC_BASE_DIR.
    """
    repo, name = name_address(target, "name")
    env: dict[str, str] = {}
    for pair in env_pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"--env {pair!r}: use KEY=VALUE")
        env[key] = value
    h = app.client.add_hook(
        repo,
        name,
        event,
        cmd=list(cmd) or None,
        url=url,
        branches=branches,
        image=image,
        timeout=timeout,
        env=env,
    )
    if as_json:
        echo_json(h.to_json())
    else:
        click.echo(f"added {h.event} hook {h.repo}@{h.name} on branches {h.branches!r}")


@hook.command("list")
@click.argument("repo")
@json_option
@pass_app
def list_(app: App, repo: str, as_json: bool) -> None:
    """REPO's hooks."""
    hooks = app.client.list_hooks(check_name(repo, "repo"))
    if as_json:
        echo_json([h.to_json() for h in hooks])
        return
    print_table(
        ("HOOK", "EVENT", "BRANCHES", "TIMEOUT", "RUNS"),
        ((h.name, h.event, h.branches, f"{h.timeout:g}s", escape(h.url or " ".join(h.cmd))) for h in hooks),
    )


@hook.command()
@click.argument("target", metavar="REPO@NAME")
@pass_app
def delete(app: App, target: str) -> None:
    """Delete a hook."""
    repo, name = name_address(target, "name")
    app.client.delete_hook(repo, name)
    click.echo(f"deleted hook {repo}@{name}")


@hook.command()
@click.argument("target", metavar="REPO@REF")
@json_option
@pass_app
def results(app: App, target: str, as_json: bool) -> None:
    """What the hooks said about a commit."""
    addr = address(target, path=False)
    found = app.client.hook_results(addr.repo, ref(addr))
    if as_json:
        echo_json([r.to_json() for r in found])
        return
    print_table(
        ("HOOK", "EVENT", "RESULT", "EXIT", "SECONDS", "AT"),
        (
            (
                r.hook,
                r.event,
                "passed" if r.passed else "failed",
                str(r.exit_code),
                f"{r.duration:.2f}",
                local_time(r.at),
            )
            for r in found
        ),
    )


COMMANDS = (hook,)
