"""Commit commands: ``log``, ``show``, ``diff``, ``start-commit``, ``finish-commit``,
``abort-commit``, ``rollback``, ``reflog``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, name_address, ref, ref_option
from datavc.cli.meta import metadata, metadata_options
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
from datavc.commit_metadata import parse_pairs
from datavc.errors import InvalidArgument

if TYPE_CHECKING:
    from datavc.info import CommitInfo, DiffInfo


def _one_line(text: str) -> str:
    return escape(text.splitlines()[0]) if text else ""


@click.command()
@click.argument("target", metavar="REPO@REF[:PATH]")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=1), help="Show at most N commits.")
@click.option("--follow", is_flag=True, help="With PATH: go on through the 'cp' that created it.")
@click.option("--open", "open_", is_flag=True, help="List the repo's open (unfinished) commits instead.")
@click.option(
    "--graph", is_flag=True, help="Draw merged-in history too, as lanes ('*' a commit, '|' a lane)."
)
@click.option(
    "--metadata", "show_meta", is_flag=True, help="Show each commit's metadata (key=value) below it."
)
@click.option(
    "--where",
    "where_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only commits whose metadata has KEY=VALUE (repeatable: all must match).",
)
@json_option
@pass_app
def log(
    app: App,
    target: str,
    limit: int | None,
    follow: bool,
    open_: bool,
    graph: bool,
    show_meta: bool,
    where_pairs: tuple[str, ...],
    as_json: bool,
) -> None:
    """History from REF back through first parents, newest first (REPO alone means REPO@main).

    With :PATH, only the commits that changed that file or directory (--follow: and,
    where a 'cp' created it, the history of its source).

    With --open: the repo's open commits, oldest first, with when each expires (a killed
    put leaves one; gc aborts it once expired, or run abort-commit).
    """
    addr = address(target)
    if open_:
        _log_open(app, addr.repo, limit, as_json)
        return
    where = parse_pairs(where_pairs) if where_pairs else None
    commits = app.client.log(
        addr.repo, ref(addr), limit, where=where, all_parents=graph, path=addr.path, follow=follow
    )
    if as_json:
        stream_json(commits, lambda c: c.to_json())
        return
    lanes = Lanes() if graph else None
    for c in commits:
        line = (
            f"{short(c.id)}  {local_time(c.created_at)}  {escape(c.author):<12}  {c.origin:<8}  "
            f"{human_size(c.size):>10}  {_one_line(c.message)}"
        )
        if lanes is not None:
            prefix, rest = lanes.draw(c.id, c.parents)
            click.echo(f"{prefix} {line}")
        else:
            rest = ""
            click.echo(line)
        if show_meta:
            for k, v in c.metadata.items():
                click.echo(f"{rest}    {escape(k)}={escape(v)}")


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


class Lanes:
    """The lanes of ``log --graph``: one column per line of history still to be drawn."""

    def __init__(self) -> None:
        self.lanes: list[str] = []

    def draw(self, commit: str, parents: tuple[str, ...]) -> tuple[str, str]:
        """The row's prefix for ``commit`` and the prefix of the lines below it."""
        if commit not in self.lanes:
            self.lanes.append(commit)
        col = self.lanes.index(commit)
        row = " ".join("*" if i == col else "|" for i in range(len(self.lanes)))
        rest = list(parents)
        if rest and rest[0] not in self.lanes:
            self.lanes[col] = rest.pop(0)
        else:
            del self.lanes[col]
            rest = rest[1:] if rest else []
        for p in rest:
            if p not in self.lanes:
                self.lanes.append(p)
        below = " ".join("|" for _ in self.lanes)
        width = max(len(row), len(below))
        return row.ljust(width), below.ljust(width)


def _show_fields(c: CommitInfo) -> list[tuple[str, str]]:
    return [
        ("commit", c.id),
        ("repo", c.repo),
        ("parent", c.parent or "-"),
        *([("merged", ", ".join(c.parents[1:]))] if len(c.parents) > 1 else []),
        ("branch", c.branch or "-"),
        ("state", c.state),
        ("origin", c.origin),
        ("author", c.author),
        ("created", local_time(c.created_at)),
        ("finished", local_time(c.finished_at)),
        ("size", f"{human_size(c.size)} ({c.size} bytes)"),
        ("files", str(c.file_count)),
        ("provenance", ", ".join(c.provenance) or "-"),
        *[(f"metadata {k}", v) for k, v in c.metadata.items()],
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
@click.option(
    "--content", is_flag=True, help="Show what changed inside files: unified diffs, CSV rows/columns."
)
@click.option("--stat", is_flag=True, help="One line per file with lines (or bytes) added and removed.")
@click.option("--name-only", is_flag=True, help="Only the changed paths.")
@click.option(
    "--max-bytes",
    type=click.IntRange(min=0),
    default=1 << 20,
    show_default=True,
    help="With --content/--stat: larger files get sizes only.",
)
@json_option
@pass_app
def diff(
    app: App,
    a: str,
    b: str | None,
    content: bool,
    stat: bool,
    name_only: bool,
    max_bytes: int,
    as_json: bool,
) -> None:
    """Changes made by REF (against its parent; for a merge commit, its first parent), or from REF to REF2.

    REF2 may be a bare ref of the same repo, or REPO@REF2 of another repo.
    """
    if sum((content, stat, name_only)) > 1:
        raise InvalidArgument("give one of --content, --stat, --name-only")
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
    if content or stat:
        other = None if b is None else (new_repo, new_ref)
        _diff_content(app, old.repo, ref(old), other, max_bytes, stat, as_json)
        return
    if name_only and not as_json:
        for d in changes:
            click.echo(escape(d.path))
        return
    if as_json:
        stream_json(changes, lambda d: d.to_json())
        return
    counts = {"added": 0, "modified": 0, "deleted": 0}
    for d in changes:
        counts[d.status] = counts.get(d.status, 0) + 1
        click.echo(_diff_line(d))
    click.echo(f"{counts['added']} added, {counts['modified']} modified, {counts['deleted']} deleted")


def _diff_content(
    app: App, repo: str, a: str, other: tuple[str, str] | None, max_bytes: int, stat: bool, as_json: bool
) -> None:
    b_repo, b = other if other is not None else (repo, None)
    diffs = app.client.diff_content(
        repo, a, b, b_repo=None if b_repo == repo else b_repo, max_bytes=max_bytes
    )
    if as_json:
        stream_json(diffs, lambda d: d.to_json())
        return
    for d in diffs:
        if stat:
            if d.kind in ("text", "csv"):
                click.echo(f"{escape(d.path)} | +{d.lines_added} -{d.lines_removed}")
            else:
                click.echo(
                    f"{escape(d.path)} | {d.kind} {human_size(d.old_size)} -> {human_size(d.new_size)}"
                )
            continue
        click.echo(f"{d.status} {escape(d.path)} ({d.kind})")
        if d.kind == "csv":
            cols = f", columns added: {', '.join(d.columns_added)}" if d.columns_added else ""
            if d.columns_removed:
                cols += f", columns removed: {', '.join(d.columns_removed)}"
            header = "header changed" if d.header_changed else "same header"
            click.echo(f"  {header}; rows +{d.rows_added} -{d.rows_removed}{escape(cols)}")
        if d.kind in ("binary", "too-large"):
            click.echo(f"  {human_size(d.old_size)} -> {human_size(d.new_size)}")
        elif d.unified:
            click.echo(escape(d.unified, newlines=True), nl=False)
            if d.truncated:
                click.echo("  ... (diff cut)")


@click.command("start-commit")
@click.argument("target", metavar="REPO@BRANCH")
@click.option("-m", "--message", default="", help="Commit message.")
@metadata_options
@json_option
@pass_app
def start_commit(
    app: App,
    target: str,
    message: str,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Open a commit on BRANCH for several writes; prints its id (alone on a line)."""
    addr = address(target, path=False)
    meta = metadata(metadata_pairs, metadata_file)
    c = app.client.start_commit(addr.repo, ref(addr), message, metadata=meta)
    if as_json:
        echo_json(c.to_json())
    else:
        click.echo(c.id)


@click.command("finish-commit")
@click.argument("target", metavar="REPO@ID")
@click.option("-m", "--message", default=None, help="Replace the commit message.")
@click.option("--force", is_flag=True, help="Finish even on a protected branch (the owner role on a server).")
@metadata_options
@json_option
@pass_app
def finish_commit(
    app: App,
    target: str,
    message: str | None,
    force: bool,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Finish an open commit: its branch moves to it."""
    repo, commit_id = name_address(target, "id")
    meta = metadata(metadata_pairs, metadata_file)
    since = started()
    c = app.client.finish_commit(repo, commit_id, message, metadata=meta, force=force)
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
@click.option("--force", is_flag=True, help="Commit even on a protected branch (the owner role on a server).")
@metadata_options
@json_option
@pass_app
def rollback(
    app: App,
    target: str,
    to: str,
    message: str | None,
    force: bool,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """A new commit on BRANCH with REF's content; history is kept (see also 'branch reset')."""
    repo, branch = name_address(target, "branch")
    meta = metadata(metadata_pairs, metadata_file)
    to_ref = ref_option(to, repo, "--to", verb="roll back")
    since = started()
    c = app.client.rollback(repo, branch, to_ref, message=message, metadata=meta, force=force)
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
