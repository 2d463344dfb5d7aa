"""File commands: ``put``, ``get``, ``rm``, ``cp`` (``ls`` is in :mod:`datavc.cli.reads`)."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, check_readable, local_path_errors, ref
from datavc.cli.meta import metadata, metadata_options
from datavc.cli.render import (
    activity,
    echo_json,
    human_size,
    json_option,
    plural,
    warn_skipped,
)
from datavc.cli.triggered import settle, started
from datavc.errors import InvalidArgument

if TYPE_CHECKING:
    from datavc.info import CommitInfo


def _join(base: str | None, name: str) -> str:
    return f"{(base or '').rstrip('/')}/{name}"


def _local_size(path: str, is_dir: bool) -> tuple[int, int]:
    if not is_dir:
        return 1, os.path.getsize(path)
    files = size = 0
    for root, _dirs, names in os.walk(path):  # a progress estimate: links are not followed
        for n in names:
            try:
                st = os.lstat(os.path.join(root, n))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
    return files, size


def _commit_line(info: CommitInfo) -> str:
    where = f"{info.repo}@{info.branch}" if info.branch else info.repo
    state = "open commit" if info.state == "open" else "commit"
    return f"{where} {state} {info.id}: {plural(info.file_count, 'file')}, {human_size(info.size)}"


@click.command()
@click.argument("dest", metavar="REPO@BRANCH[:PATH]")
@click.argument("srcs", metavar="SRC...", nargs=-1)
@click.option(
    "-i",
    "--input-file",
    "input_file",
    type=click.Path(dir_okay=False),
    help="Also put each SRC listed in this file, one a line (URLs or local paths; '#' starts a comment).",
)
@click.option("-m", "--message", default="", help="Commit message.")
@click.option(
    "--commit", "commit_id", metavar="ID", help="Add to this open commit instead of making a new one."
)
@click.option(
    "--follow-symlinks",
    is_flag=True,
    help="Store what symbolic links point to, for links that stay inside the source directory.",
)
@metadata_options
@json_option
@pass_app
def put(
    app: App,
    dest: str,
    srcs: tuple[str, ...],
    input_file: str | None,
    message: str,
    commit_id: str | None,
    follow_symlinks: bool,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Upload files or directories (SRC '-' reads stdin), or http(s) URLs, as one new commit.

    A file goes to PATH, or to PATH/<name> when PATH ends with '/', is omitted, or
    several SRCs are given (a URL's <name> is the last segment of its path; its body is
    streamed, and a URL that fails fails the put, committing nothing). A directory's
    contents go under PATH (default '/'). -i FILE adds the SRCs listed in FILE.
    With --commit ID the changes join that open commit. REPO alone means REPO@main;
    a BRANCH that does not exist yet is created (empty) first, saying so on stderr.
    Symbolic links are not stored: those in a directory are skipped with a warning
    (with --follow-symlinks, links that stay inside the directory are followed), and
    a SRC that is a link is refused unless --follow-symlinks.
    """
    from datavc.urls import check_url, url_basename, url_scheme

    addr = address(dest)
    branch = ref(addr)
    if input_file is not None:
        srcs = (*srcs, *_listed(input_file))
    if not srcs:
        raise InvalidArgument("put: give at least one SRC (a path, '-' or a URL), or -i FILE")
    meta = metadata(metadata_pairs, metadata_file)
    into_dir = addr.path is None or addr.dir_hint or len(srcs) > 1
    plan: list[tuple[str, str | BinaryIO | _Url]] = []
    files = size = 0
    for src in srcs:
        if url_scheme(src) is not None:
            check_url(src)
            plan.append((_join(addr.path, url_basename(src)) if into_dir else addr.path or "", _Url(src)))
            files += 1
            continue
        if src == "-":
            if into_dir:
                raise InvalidArgument("reading stdin ('-') needs a file path: REPO@BRANCH:PATH")
            plan.append((addr.path or "", sys.stdin.buffer))
            files += 1
            continue
        if os.path.islink(src) and not follow_symlinks:
            raise InvalidArgument(
                f"{src} is a symbolic link: datavc does not store links; "
                "give the path it points to, or use --follow-symlinks"
            )
        try:
            is_dir = check_readable(src)
        except OSError as err:  # a link loop, a name too long, ...
            raise InvalidArgument(f"{src}: {err.strerror or err}") from None
        if is_dir:
            plan.append((addr.path or "", src))
        else:
            target = (
                _join(addr.path, os.path.basename(os.path.normpath(src))) if into_dir else addr.path or ""
            )
            plan.append((target, src))
        with local_path_errors(src):
            f, s = _local_size(src, is_dir)
        files, size = files + f, size + s
    client = app.client
    if commit_id is None:
        _ensure_branch(app, addr.repo, branch)
    since = started()
    with activity(f"uploading to {addr.repo}@{branch}", total=size) as act:
        act.files, act.bytes = files, size
        opts: dict[str, Any] = {
            "progress": act.advance,
            "follow_symlinks": follow_symlinks,
            "on_skip": warn_skipped,
        }
        if commit_id is not None or len(plan) == 1:
            path, src0 = plan[0]
            with _opened(src0) as one:
                info = client.put_file(
                    addr.repo, branch, path, one, message=message, commit=commit_id, metadata=meta, **opts
                )
            for path, src0 in plan[1:]:
                with _opened(src0) as one:
                    info = client.put_file(addr.repo, branch, path, one, commit=commit_id, **opts)
        else:
            # Several sources, one commit: aborted if any put fails.
            with client.commit(addr.repo, branch, message or f"put {len(plan)} sources", metadata=meta) as tx:
                for path, src0 in plan:
                    with _opened(src0) as one:
                        client.put_file(addr.repo, branch, path, one, commit=tx.id, **opts)
            assert tx.info is not None
            info = tx.info
    if as_json:
        echo_json(info.to_json())
    else:
        click.echo(_commit_line(info))
    settle(app, since, quiet=as_json)


class _Url(str):
    """A put source that is an http(s) URL, opened (streamed) only when its turn comes."""


@contextlib.contextmanager
def _opened(src: str | BinaryIO | _Url) -> Iterator[str | BinaryIO]:
    if isinstance(src, _Url):
        from datavc.urls import open_url

        with open_url(str(src)) as body:
            yield body
    else:
        yield src


def _listed(path: str) -> list[str]:
    """The SRCs listed in ``path``: one a line, blank lines and '#' comments skipped."""
    with local_path_errors(path), open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [line for line in lines if line and not line.startswith("#")]


def _ensure_branch(app: App, repo: str, branch: str) -> None:
    """Create ``branch`` (empty) when it does not exist, as pachctl's put does; say so on stderr."""
    from datavc.errors import AlreadyExists, BranchNotFound

    try:
        app.client.inspect_branch(repo, branch)
    except BranchNotFound:
        try:
            app.client.create_branch(repo, branch)
        except AlreadyExists:
            return  # another writer created it meanwhile
        click.echo(f"created branch {repo}@{branch}", err=True)


@click.command()
@click.argument("src", metavar="REPO@REF:PATH")
@click.option(
    "-o", "--output", "dest", type=click.Path(), help="Write to DEST (a directory's contents under DEST)."
)
@pass_app
def get(app: App, src: str, dest: str | None) -> None:
    """Write a file to stdout, or with -o a file or a whole directory to DEST."""
    addr = address(src, path=True)
    path = addr.path or ""
    if dest is None:
        out = sys.stdout.buffer
        for piece in app.client.iter_file(addr.repo, ref(addr), path):
            out.write(piece)
        out.flush()
        return
    total = app.client.inspect_file(addr.repo, ref(addr), path).size
    with activity(f"downloading {addr}", total=total) as act, local_path_errors(dest):
        act.files = app.client.get_to_path(addr.repo, ref(addr), path, dest, progress=act.advance)


@click.command()
@click.argument("targets", metavar="REPO@BRANCH:PATH...", nargs=-1, required=True)
@click.option("-m", "--message", default="", help="Commit message.")
@click.option("--commit", "commit_id", metavar="ID", help="Delete in this open commit instead of a new one.")
@metadata_options
@json_option
@pass_app
def rm(
    app: App,
    targets: tuple[str, ...],
    message: str,
    commit_id: str | None,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Delete files or directories in one new commit (all on the same REPO@BRANCH)."""
    addrs = [address(t, path=True) for t in targets]
    first = addrs[0]
    for a in addrs[1:]:
        if (a.repo, a.ref) != (first.repo, first.ref):
            raise InvalidArgument(
                f"rm: {a.repo}@{a.ref} differs from {first.repo}@{first.ref}: one branch per rm"
            )
    since = started()
    info = app.client.delete_file(
        first.repo,
        ref(first),
        [a.path or "" for a in addrs],
        message=message,
        commit=commit_id,
        metadata=metadata(metadata_pairs, metadata_file),
    )
    if as_json:
        echo_json(info.to_json())
    else:
        click.echo(_commit_line(info))
    settle(app, since, quiet=as_json)


@click.command()
@click.argument("src", metavar="SRC_REPO@REF:PATH")
@click.argument("dst", metavar="DST_REPO@BRANCH[:PATH]")
@click.option("-m", "--message", default="", help="Commit message.")
@metadata_options
@json_option
@pass_app
def cp(
    app: App,
    src: str,
    dst: str,
    message: str,
    metadata_pairs: tuple[str, ...],
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Copy a file or directory, within or between repos, without re-uploading it.

    The copy goes to PATH, or to PATH/<name> when PATH ends with '/' or is omitted.
    """
    s = address(src, path=True)
    d = address(dst)
    name = (s.path or "").rsplit("/", 1)[-1]
    target = _join(d.path, name) if d.path is None or d.dir_hint else d.path
    if not target.strip("/"):
        raise InvalidArgument(f"cp: {src} is the root: give a destination path")
    meta = metadata(metadata_pairs, metadata_file)
    since = started()
    info = app.client.copy_file(
        s.repo, ref(s), s.path or "", d.repo, ref(d), target, message=message, metadata=meta
    )
    if as_json:
        echo_json(info.to_json())
    else:
        click.echo(_commit_line(info))
    settle(app, since, quiet=as_json)


COMMANDS = (put, get, rm, cp)
