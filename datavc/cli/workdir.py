"""Working-copy commands: ``checkout``, ``commit`` (``status`` is in :mod:`datavc.cli.reads`)."""

from __future__ import annotations

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, local_path_errors, ref
from datavc.cli.meta import metadata, metadata_options
from datavc.cli.render import activity, echo_json, human_size, json_option, plural, warn_skipped
from datavc.cli.triggered import settle, started


@click.command()
@click.argument("target", metavar="REPO@REF")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite local changes in an existing checkout.")
@click.option(
    "--adopt",
    is_flag=True,
    help="DIR holds the files already: commit them to the branch and make DIR its working copy "
    "(one pass, the files are not rewritten).",
)
@click.option("-m", "--message", default="", help="Commit message for --adopt.")
@json_option
@pass_app
def checkout(
    app: App, target: str, directory: str, force: bool, adopt: bool, message: str, as_json: bool
) -> None:
    """Materialise REPO@REF in DIR; an existing checkout only gets the files that differ.

    Checked out from a branch, DIR can commit back with 'datavc commit'; a branch with
    no commits yet gives an empty DIR to fill and commit. An interrupted checkout (killed
    half-way) is finished by running checkout again. With --adopt, DIR's existing files
    become the branch's new commit and DIR its working copy, without copying them.
    """
    addr = address(target, path=False)
    if adopt:
        with activity(f"adopting {directory} as {addr}"), local_path_errors(directory):
            info = app.client.adopt(addr.repo, ref(addr), directory, message=message, on_skip=warn_skipped)
    else:
        with activity(f"checking out {addr}") as act, local_path_errors(directory):
            info = app.client.checkout(addr.repo, ref(addr), directory, force=force, progress=act.advance)
            act.files = info.files_written
    if as_json:
        echo_json(info.to_json())
        return
    where = f"{info.repo}@{info.branch}" if info.branch else f"{info.repo}@{info.ref}"
    commit = info.commit or "no commits yet"
    click.echo(
        f"checked out {where} ({commit}) in {info.dir}: {info.files_written} written, "
        f"{info.files_deleted} deleted, {info.files_unchanged} unchanged"
    )


@click.command()
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(file_okay=False))
@click.option("-m", "--message", required=True, help="Commit message.")
@click.option(
    "--rebase", is_flag=True, help="Commit even if the branch moved: re-apply the changes on its head."
)
@metadata_options
@json_option
@pass_app
def commit(
    app: App,
    directory: str | None,
    message: str,
    rebase: bool,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Commit a checkout's changes to its branch (refused, exit 5, if the branch moved, unless --rebase).

    Refused (exit 5) while an interrupted checkout is unfinished. Symbolic links are
    skipped with a warning, never followed.
    """
    meta = metadata(metadata_pairs, metadata_file)
    since = started()
    with local_path_errors(directory or "."):
        c = app.client.commit_workdir(
            directory or ".", message, rebase=rebase, on_skip=warn_skipped, metadata=meta
        )
    if as_json:
        echo_json(c.to_json())
    else:
        click.echo(f"{c.repo}@{c.branch} commit {c.id}: {plural(c.file_count, 'file')}, {human_size(c.size)}")
    settle(app, since, quiet=as_json)


COMMANDS = (checkout, commit)
