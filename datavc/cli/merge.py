"""``datavc merge``, ``datavc revert`` and ``datavc cherry-pick``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, ref
from datavc.cli.meta import metadata, metadata_options
from datavc.cli.render import echo_json, human_size, json_option, print_table
from datavc.errors import InvalidArgument, MergeConflicts
from datavc.names import check_name

if TYPE_CHECKING:
    from datavc.info import MergeConflict, MergeInfo

F = TypeVar("F", bound=Callable[..., Any])


def _resolution_options(f: F) -> F:
    f = click.option(
        "--dry-run", is_flag=True, help="Show what would happen (conflicts included); write nothing."
    )(f)
    f = click.option(
        "--theirs",
        "theirs",
        multiple=True,
        metavar="GLOB",
        help="Conflicting paths matching GLOB take the incoming side (repeatable).",
    )(f)
    f = click.option(
        "--ours",
        "ours",
        multiple=True,
        metavar="GLOB",
        help="Conflicting paths matching GLOB keep the branch's side (repeatable).",
    )(f)
    return click.option(
        "--strategy",
        type=click.Choice(["ours", "theirs"]),
        help="Decide every other conflict for the branch (ours) or the incoming side (theirs).",
    )(f)


def _branch(text: str, repo: str) -> str:
    """A branch given as NAME or REPO@NAME (of ``repo``)."""
    if "@" in text:
        addr = address(text, default_ref=None, path=False)
        if addr.repo != repo:
            raise InvalidArgument(f"{text}: cannot work across repos ({addr.repo} is not {repo})")
        text = ref(addr)
    return check_name(text, "branch")


def _side(size: int | None, h: str | None) -> str:
    return "-" if h is None else f"{human_size(size)} {h[:12]}"


def _conflict_rows(conflicts: tuple[MergeConflict, ...]) -> None:
    print_table(
        ("PATH", "KIND", "OURS", "THEIRS", "BASE"),
        (
            (
                c.path,
                c.kind,
                _side(c.ours_size, c.ours_hash),
                _side(c.theirs_size, c.theirs_hash),
                _side(c.base_size, c.base_hash),
            )
            for c in conflicts
        ),
    )


def _run(run: Callable[[], MergeInfo], as_json: bool) -> None:
    """Call the client; on conflicts print them all (table or JSON) on stdout, then fail with exit 5."""
    try:
        info = run()
    except MergeConflicts as err:
        conflicts: tuple[MergeConflict, ...] = err.conflicts  # type: ignore[assignment]
        if as_json:
            echo_json({"result": "conflict", "conflicts": [c.to_json() for c in conflicts]})
        else:
            _conflict_rows(conflicts)
        raise
    if as_json:
        echo_json(info.to_json())
        return
    where = f"{info.repo}@{info.branch}"
    if info.result == "conflict":
        click.echo(f"{info.operation} into {where} would conflict on {len(info.conflicts)} path(s):")
        _conflict_rows(info.conflicts)
        return
    would = "would be " if info.dry_run else ""
    if info.result == "up-to-date":
        click.echo(f"{where} is up to date: nothing to {info.operation}")
    elif info.result == "fast-forward":
        click.echo(f"{where} {would}fast-forwarded to {info.source}")
    else:
        made = f"commit {info.commit.id}" if info.commit else "a new commit"
        click.echo(
            f"{where} {would}{'made' if info.dry_run else 'now at'} {made}: {info.changes} path(s) changed"
        )
    for path, side in info.resolved:
        click.echo(f"  /{path}: conflict decided for {side}")


@click.command()
@click.argument("source", metavar="REPO@REF")
@click.argument("branch", metavar="BRANCH")
@_resolution_options
@click.option("--no-ff", is_flag=True, help="Make a merge commit even when a fast-forward is possible.")
@click.option("-m", "--message", default=None, help="The merge commit's message.")
@metadata_options
@json_option
@pass_app
def merge(
    app: App,
    source: str,
    branch: str,
    strategy: str | None,
    ours: tuple[str, ...],
    theirs: tuple[str, ...],
    dry_run: bool,
    no_ff: bool,
    message: str | None,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Merge REF into BRANCH (of the same repo): three-way at path level against the merge base.

    Fast-forwards when BRANCH's head is an ancestor of REF, else makes a merge commit with
    two parents. Conflicting paths (changed differently on both sides, or a file where the
    other side has a directory) refuse the merge: each is listed with both sides' sizes
    and hashes and the exit code is 5, unless --strategy or --ours/--theirs decide it.
    """
    addr = address(source, path=False)
    dst = _branch(branch, addr.repo)
    meta = metadata(metadata_pairs, metadata_file)
    _run(
        lambda: app.client.merge(
            addr.repo,
            ref(addr),
            dst,
            strategy=strategy,  # type: ignore[arg-type]
            ours=ours,
            theirs=theirs,
            dry_run=dry_run,
            no_ff=no_ff,
            message=message,
            metadata=meta,
        ),
        as_json,
    )


@click.command()
@click.argument("target", metavar="REPO@REF")
@click.option(
    "--branch", "-b", default=None, help="Where to revert it (default: the branch REF was made on)."
)
@_resolution_options
@click.option("-m", "--message", default=None, help="Commit message.")
@click.option("--force", is_flag=True, help="Commit even on a protected branch (the owner role on a server).")
@metadata_options
@json_option
@pass_app
def revert(
    app: App,
    target: str,
    branch: str | None,
    strategy: str | None,
    ours: tuple[str, ...],
    theirs: tuple[str, ...],
    dry_run: bool,
    message: str | None,
    force: bool,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Commit the inverse of REF's change on the branch head; conflicts as for merge."""
    addr = address(target, path=False)
    dst = None if branch is None else _branch(branch, addr.repo)
    meta = metadata(metadata_pairs, metadata_file)
    _run(
        lambda: app.client.revert(
            addr.repo,
            ref(addr),
            dst,
            strategy=strategy,  # type: ignore[arg-type]
            ours=ours,
            theirs=theirs,
            dry_run=dry_run,
            message=message,
            metadata=meta,
            force=force,
        ),
        as_json,
    )


@click.command("cherry-pick")
@click.argument("source", metavar="REPO@REF")
@click.argument("branch", metavar="BRANCH")
@_resolution_options
@click.option("-m", "--message", default=None, help="Commit message.")
@click.option("--force", is_flag=True, help="Commit even on a protected branch (the owner role on a server).")
@metadata_options
@json_option
@pass_app
def cherry_pick(
    app: App,
    source: str,
    branch: str,
    strategy: str | None,
    ours: tuple[str, ...],
    theirs: tuple[str, ...],
    dry_run: bool,
    message: str | None,
    force: bool,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Commit the change REF made (against its first parent) on BRANCH; conflicts as for merge."""
    addr = address(source, path=False)
    dst = _branch(branch, addr.repo)
    meta = metadata(metadata_pairs, metadata_file)
    _run(
        lambda: app.client.cherry_pick(
            addr.repo,
            ref(addr),
            dst,
            strategy=strategy,  # type: ignore[arg-type]
            ours=ours,
            theirs=theirs,
            dry_run=dry_run,
            message=message,
            metadata=meta,
            force=force,
        ),
        as_json,
    )


COMMANDS = (merge, revert, cherry_pick)
