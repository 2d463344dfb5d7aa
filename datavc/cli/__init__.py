"""The ``datavc`` command line: parse, call one :class:`datavc.client.Client` method, render.

One module per command group; the client (and with it SQLAlchemy, boto3) is imported
only when a command first needs it, so ``datavc --help`` stays fast.
"""

from __future__ import annotations

import click

from datavc import __version__
from datavc.cli import (
    auth,
    branch,
    commits,
    datum,
    files,
    hook,
    jobs,
    merge,
    pipeline,
    repo,
    server,
    store,
    tag,
    ui,
    workdir,
    worker,
)
from datavc.cli.app import App, RootGroup
from datavc.cli.commit_set import COMMANDS as COMMIT_SET_COMMANDS
from datavc.cli.config import COMMANDS as CONFIG_COMMANDS

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


@click.group(cls=RootGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
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


for _module in (
    store,
    repo,
    files,
    commits,
    merge,
    branch,
    tag,
    hook,
    workdir,
    pipeline,
    jobs,
    worker,
    server,
    auth,
    ui,
    datum,
):
    for _command in _module.COMMANDS:
        main.add_command(_command)
for _command in COMMIT_SET_COMMANDS + CONFIG_COMMANDS:
    main.add_command(_command)
