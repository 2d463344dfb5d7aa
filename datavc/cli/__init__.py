"""The ``datavc`` command line: parse, call one :class:`datavc.client.Client` method, render.

One module per command group, each listing its commands in ``COMMANDS``. Modules are
imported lazily: ``datavc ls`` imports ``datavc.cli.reads`` and nothing of pipelines,
jobs, the server or auth; the client (and with it SQLAlchemy, boto3) is imported only
when a command first needs it. ``--help`` imports every module.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import click

from datavc import __version__
from datavc.cli.app import App, RootGroup

#: The command modules (``datavc.cli.<name>``), each with a ``COMMANDS`` tuple.
COMMAND_MODULES = (
    "store",
    "repo",
    "reads",
    "files",
    "commits",
    "branch",
    "tag",
    "workdir",
    "pipeline",
    "jobs",
    "worker",
    "server",
    "auth",
    "merge",
    "hook",
    "ui",
    "datum",
    "commit_set",
    "config",
)

#: Which module holds a command, so running it imports only that module. A command not
#: listed here still works (every module is then imported to find it); a test checks that
#: this index is complete, to keep it fast.
COMMAND_INDEX = {
    **dict.fromkeys(("init", "fsck", "gc"), "store"),
    "repo": "repo",
    **dict.fromkeys(("ls", "status"), "reads"),
    **dict.fromkeys(("put", "get", "rm", "cp"), "files"),
    **dict.fromkeys(
        ("log", "show", "diff", "start-commit", "finish-commit", "abort-commit", "rollback", "reflog"),
        "commits",
    ),
    "branch": "branch",
    "tag": "tag",
    **dict.fromkeys(("checkout", "commit"), "workdir"),
    **dict.fromkeys(("pipeline", "lineage"), "pipeline"),
    **dict.fromkeys(("job", "run", "daemon", "wait"), "jobs"),
    "datum": "datum",  # the jobs module's group, with `datum next` attached by datavc.cli.datum
    **dict.fromkeys(("merge", "revert", "cherry-pick"), "merge"),
    "hook": "hook",
    "ui": "ui",
    "commit-set": "commit_set",
    "config": "config",
    **dict.fromkeys(("worker", "doctor"), "worker"),
    **dict.fromkeys(("serve", "login", "logout"), "server"),
    **dict.fromkeys(("auth", "audit"), "auth"),
}


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"datavc.cli.{name}")


def all_commands() -> dict[str, click.Command]:
    """Every command of every module, by name (imports them all)."""
    out: dict[str, click.Command] = {}
    for module in COMMAND_MODULES:
        for command in command_module(module).COMMANDS:
            assert command.name is not None
            out[command.name] = command
    return out


class LazyRootGroup(RootGroup):
    """The root group, loading a command's module only when that command runs."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_INDEX.get(cmd_name)
        if module is not None:
            for command in command_module(module).COMMANDS:
                if command.name == cmd_name:
                    return command  # type: ignore[no-any-return]
        return all_commands().get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(all_commands())


EPILOG = """\b
Exit codes:
  0    success
  1    a bug (unexpected error; please report it)
  2    invalid argument (bad name, path, ref or option; also usage errors)
  3    not found (repo, branch, tag, commit, path or store)
  4    already exists
  5    conflict (finished commit, branch moved, path clash)
  6    integrity (corrupt or missing stored data)
  7    backend unavailable (database or object store)
  8    pipeline failed
  9    unauthenticated (no token, or an unknown, expired or revoked one)
  10   forbidden (the user lacks a role or permission; the message names it)
  130  interrupted
"""


@click.group(cls=LazyRootGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datavc")
@click.option(
    "--home",
    envvar="DATAVC_HOME",
    type=click.Path(file_okay=False),
    help="The store (a directory holding .datavc). Default: .datavc here or in a parent. [env: DATAVC_HOME]",
)
@click.pass_context
def main(ctx: click.Context, home: str | None) -> None:
    """datavc: version control and lineage for data.

    Addresses are REPO@REF:PATH; a REF is a branch, a tag, a commit id (or a unique
    prefix of 6+ hex digits), with ~N, ^ and @{ISO time}.
    """
    ctx.obj = App(home)
