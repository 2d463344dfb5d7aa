"""The read commands every start must keep light: ``ls`` and ``status``.

They sit apart from the file and working-copy commands so that running one imports
only this module, :mod:`datavc.cli.args` and :mod:`datavc.cli.render`: nothing of
commit metadata, triggered jobs or uploads (see ``tests/datavc/cli/test_lazy_commands.py``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, local_path_errors, ref
from datavc.cli.render import (
    echo_json,
    escape,
    human_size,
    json_option,
    stream_json,
    warn_skipped,
    write_lines,
)
from datavc.errors import InvalidArgument

if TYPE_CHECKING:
    from datavc.info import FileInfo

_GLOB_CHARS = re.compile(r"[*?\[]")


def _ls_line(f: FileInfo) -> str:
    name = f.path.rstrip("/") + "/" if f.kind == "dir" else f.path
    return f"{human_size(f.size):>10}  {escape(name)}"


@click.command()
@click.argument("src", metavar="REPO@REF[:PATH]")
@click.option("-r", "--recursive", is_flag=True, help="List every file below PATH.")
@json_option
@pass_app
def ls(app: App, src: str, recursive: bool, as_json: bool) -> None:
    """List a directory's entries with their sizes (directories end with '/').

    A PATH with glob characters lists what matches it instead: '*', '?' and '[...]'
    within a name, '**' across directories (quote it from the shell): 'REPO@main:/*.csv'.
    """
    addr = address(src)
    path = addr.path or "/"
    if _GLOB_CHARS.search(path):
        if recursive:
            raise InvalidArgument("ls: -r lists a directory; with a glob use '**' instead")
        entries = app.client.glob_files(addr.repo, ref(addr), path)
    else:
        entries = app.reader.list_files(addr.repo, ref(addr), path, recursive=recursive)
    if as_json:
        stream_json(entries, lambda f: f.to_json())
        return
    write_lines(_ls_line(f) for f in entries)


@click.command()
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(file_okay=False))
@json_option
@pass_app
def status(app: App, directory: str | None, as_json: bool) -> None:
    """Local changes in a checkout (default: the current directory).

    Symbolic links are not tracked (a warning names each). After an interrupted checkout
    this says so, and how to finish it.
    """
    with local_path_errors(directory or "."):
        info = app.reader.status(directory or ".", on_skip=warn_skipped)
    if as_json:
        echo_json(
            {**info.to_json(), "changes": [d.to_json() for d in info.changes], "incomplete": info.incomplete}
        )
        return
    where = f"{info.repo}@{info.branch}" if info.branch else f"{info.repo} (detached)"
    if info.incomplete:
        click.echo(
            f"checkout of {info.repo}@{info.pending_ref} ({info.pending_commit}) is incomplete: "
            "it was interrupted"
        )
        click.echo(f"  run 'datavc checkout {info.repo}@{info.pending_ref} {info.dir}' to finish it")
        click.echo(f"  (last complete checkout: {where} at {info.commit or 'none'})")
        return
    click.echo(f"on {where} at {info.commit or '(no commits yet)'}")
    if not info.changes:
        click.echo("nothing to commit")
        return
    marks = {"added": "A", "modified": "M", "deleted": "D"}
    for d in info.changes:
        size = "" if d.status == "deleted" else f" ({human_size(d.new_size)})"
        click.echo(f"{marks.get(d.status, '?')} {escape(d.path)}{size}")


COMMANDS = (ls, status)
