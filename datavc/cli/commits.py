"""Commit commands: ``log``, ``show``, ``diff``, ``start-commit``, ``finish-commit``,
``abort-commit``, ``rollback``, ``reflog``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, name_address, ref, ref_option
from datavc.cli.render import (
    echo_json,
    escape,
    human_size,
    json_option,
    local_time,
    plural,
    print_fields,
    print_table,
    short,
    stream_json,
)
from datavc.cli.triggered import settle, started

if TYPE_CHECKING:
    from datavc.info import CommitInfo, DiffInfo


def _one_line(text: str) -> str:
    return escape(text.splitlines()[0]) if text else ""


@click.command()
@click.argument("target", metavar="REPO@REF")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=1), help="Show at most N commits.")
@click.option("--open", "open_", is_flag=True, help="List the repo's open (unfinished) commits instead.")
@json_option
@pass_app
def log(app: App, target: str, limit: int | None, open_: bool, as_json: bool) -> None:
    """History from REF back, newest first (REPO alone means REPO@main).

    With --open: the repo's open commits, oldest first, with when each expires (a killed
    put leaves one; gc aborts it once expired, or run abort-commit).
    """
    addr = address(target, path=False)
    if open_:
        _log_open(app, addr.repo, limit, as_json)
        return
    commits = app.client.log(addr.repo, ref(addr), limit)
    if as_json:
        stream_json(commits, lambda c: c.to_json())
        return
    for c in commits:
        click.echo(
            f"{short(c.id)}  {local_time(c.created_at)}  {escape(c.author):<12}  {c.origin:<8}  "
            f"{human_size(c.size):>10}  {_one_line(c.message)}"
        )


def _log_open(app: App, repo: str, limit: int | None, as_json: bool) -> None:
    items = app.client.open_commits(repo)[:limit]
    if as_json:
        echo_json(
            [
                {**o.commit.to_json(), "expires_at": o.expires_at.isoformat(), "expired": o.expired}
                for o in items
            ]
        )
        return
    for o in items:
        c = o.commit
        state = "expired" if o.expired else f"expires {local_time(o.expires_at)}"
        click.echo(
            f"{short(c.id)}  {local_time(c.created_at)}  {c.author:<12}  {c.origin:<8}  open ({state})  "
            f"{_one_line(c.message)}".rstrip()
        )


def _show_fields(c: CommitInfo) -> list[tuple[str, str]]:
    return [
        ("commit", c.id),
        ("repo", c.repo),
        ("parent", c.parent or "-"),
        ("branch", c.branch or "-"),
        ("state", c.state),
        ("origin", c.origin),
        ("author", c.author),
        ("created", local_time(c.created_at)),
        ("finished", local_time(c.finished_at)),
        ("size", f"{human_size(c.size)} ({c.size} bytes)"),
        ("files", str(c.file_count)),
        ("provenance", ", ".join(c.provenance) or "-"),
        ("message", c.message),
    ]


@click.command()
@click.argument("target", metavar="REPO@REF")
@json_option
@pass_app
def show(app: App, target: str, as_json: bool) -> None:
    """One commit: id, parent, branch, origin, message, author, times, size, files, provenance."""
    addr = address(target, path=False)
    c = app.client.inspect_commit(addr.repo, ref(addr))
    if as_json:
        echo_json(c.to_json())
    else:
        print_fields(_show_fields(c))


def _diff_line(d: DiffInfo) -> str:
    path = escape(d.path)
    if d.status == "added":
        return f"A {path} ({human_size(d.new_size)})"
    if d.status == "deleted":
        return f"D {path}"
    return f"M {path} ({human_size(d.old_size)} -> {human_size(d.new_size)})"


@click.command()
@click.argument("a", metavar="REPO@REF")
@click.argument("b", metavar="[REPO@REF2]", required=False)
@json_option
@pass_app
def diff(app: App, a: str, b: str | None, as_json: bool) -> None:
    """Changes made by REF (against its parent), or from REF to REF2.

    REF2 may be a bare ref of the same repo, or REPO@REF2 of another repo.
    """
    old = address(a, path=False)
    if b is None:
        changes = app.client.diff(old.repo, ref(old))
    else:
        if "@" in b and not b.partition("@")[2].startswith("{"):
            new = address(b, path=False)
            new_repo, new_ref = new.repo, ref(new)
        else:
            new_repo, new_ref = old.repo, ref_option(b, old.repo, "REF2", verb="diff")
        changes = app.client.diff(
            old.repo, ref(old), new_ref, b_repo=None if new_repo == old.repo else new_repo
        )
    if as_json:
        stream_json(changes, lambda d: d.to_json())
        return
    counts = {"added": 0, "modified": 0, "deleted": 0}
    for d in changes:
        counts[d.status] = counts.get(d.status, 0) + 1
        click.echo(_diff_line(d))
    click.echo(f"{counts['added']} added, {counts['modified']} modified, {counts['deleted']} deleted")


@click.command("start-commit")
@click.argument("target", metavar="REPO@BRANCH")
@click.option("-m", "--message", default="", help="Commit message.")
@json_option
@pass_app
def start_commit(app: App, target: str, message: str, as_json: bool) -> None:
    """Open a commit on BRANCH for several writes; prints its id (alone on a line)."""
    addr = address(target, path=False)
    c = app.client.start_commit(addr.repo, ref(addr), message)
    if as_json:
        echo_json(c.to_json())
    else:
        click.echo(c.id)


@click.command("finish-commit")
@click.argument("target", metavar="REPO@ID")
@click.option("-m", "--message", default=None, help="Replace the commit message.")
@json_option
@pass_app
def finish_commit(app: App, target: str, message: str | None, as_json: bool) -> None:
    """Finish an open commit: its branch moves to it."""
    repo, commit_id = name_address(target, "id")
    since = started()
    c = app.client.finish_commit(repo, commit_id, message)
    if as_json:
        echo_json(c.to_json())
    else:
        click.echo(
            f"finished {c.id} on {c.repo}@{c.branch}: {plural(c.file_count, 'file')}, {human_size(c.size)}"
        )
    settle(app, since, quiet=as_json)


@click.command("abort-commit")
@click.argument("target", metavar="REPO@ID")
@pass_app
def abort_commit(app: App, target: str) -> None:
    """Drop an open commit; nothing it wrote becomes visible."""
    repo, commit_id = name_address(target, "id")
    app.client.abort_commit(repo, commit_id)
    click.echo(f"aborted {commit_id}")


@click.command()
@click.argument("target", metavar="REPO@BRANCH")
@click.option(
    "--to", "to", required=True, metavar="REF", help="The commit whose content comes back (REF or REPO@REF)."
)
@click.option("-m", "--message", default=None, help="Commit message.")
@json_option
@pass_app
def rollback(app: App, target: str, to: str, message: str | None, as_json: bool) -> None:
    """A new commit on BRANCH with REF's content; history is kept (see also 'branch reset')."""
    repo, branch = name_address(target, "branch")
    since = started()
    c = app.client.rollback(repo, branch, ref_option(to, repo, "--to", verb="roll back"), message=message)
    if as_json:
        echo_json(c.to_json())
    else:
        click.echo(f"{c.repo}@{c.branch} commit {c.id}: {_one_line(c.message)}")
    settle(app, since, quiet=as_json)


@click.command()
@click.argument("target", metavar="REPO@BRANCH")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=1), help="Show at most N entries.")
@json_option
@pass_app
def reflog(app: App, target: str, limit: int | None, as_json: bool) -> None:
    """Every move of BRANCH's head, newest first: old, new, who, why, when."""
    repo, branch = name_address(target, "branch")
    entries = app.client.reflog(repo, branch, limit)
    if as_json:
        echo_json([e.to_json() for e in entries])
        return
    print_table(
        ("WHEN", "OLD", "NEW", "WHO", "WHY"),
        ((local_time(e.at), short(e.old), short(e.new), e.who, e.why) for e in entries),
    )


COMMANDS = (log, show, diff, start_commit, finish_commit, abort_commit, rollback, reflog)
