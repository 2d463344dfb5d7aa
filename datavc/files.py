"""Files in commits: put (bytes, streams, local files, directories), get, list, glob, delete, copy, diff."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import BinaryIO

from datavc.commits import TreeEdit, apply_changes
from datavc.context import Context
from datavc.errors import Conflict, InvalidArgument, PathNotFound
from datavc.info import DiffInfo, FileInfo
from datavc.refs import get_commit, resolve
from datavc.repos import get_repo
from storage import gcpause
from storage.model import FILE, Entry, path_problem
from storage.tree import TreeBuilder
from storage.writer import Chunk, Skipped, Writer


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A resolved commit: what reads work on."""

    repo: str
    commit: str
    tree: str
    parent: str | None


def snapshot(ctx: Context, repo_name: str, ref: str) -> Snapshot:
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        c = resolve(s, repo, ref)
        return Snapshot(repo.name, c.id, c.tree, c.parent_id)


def parent_snapshot(ctx: Context, snap: Snapshot) -> Snapshot:
    if snap.parent is None:
        return Snapshot(snap.repo, "", ctx.empty_tree, None)
    with ctx.db.read() as s:
        repo = get_repo(s, snap.repo)
        c = get_commit(s, repo, snap.parent)
        return Snapshot(repo.name, c.id, c.tree, c.parent_id)


def file_info(snap: Snapshot, path: str, e: Entry) -> FileInfo:
    return _new(FileInfo, (snap.repo, snap.commit, "/" + path, e.kind, e.size, e.hash, e.count))


_new = tuple.__new__


def entry_at(ctx: Context, snap: Snapshot, path: str) -> Entry:
    """The entry at ``path``; the root directory for ``""``.

    Raises:
        PathNotFound
    """
    e = ctx.store.get_entry(snap.tree, path)
    if e is None:
        raise PathNotFound(path, f"{snap.repo}@{snap.commit[:12]}:/{path} not found")
    return e


# ----- edits (run inside commits.edit_commit, possibly more than once) ---------------------


def edit_put_entry(path: str, entry: Entry) -> TreeEdit:
    """Put an already stored entry (a file or a whole directory) at ``path``."""
    if not path:
        if not entry.is_dir:
            raise InvalidArgument("cannot put a file at the root path '/': give a file name")
        return lambda w, tree: entry.hash
    return lambda w, tree: w.update_tree(tree, {path: entry})


def edit_merge_dir(path: str, subtree: str) -> TreeEdit:
    """Merge a stored directory tree into ``path``: its files replace same-named ones, others stay."""

    def edit(w: Writer, tree: str) -> str:
        existing = w.trees.get(tree, path) if path else w.trees.dir_entry("", tree)
        if existing is None:
            return w.update_tree(tree, {path: w.trees.dir_entry(path.rsplit("/", 1)[-1], subtree)})
        if not existing.is_dir:
            raise Conflict(f"/{path} is a file; cannot put a directory there")
        if existing.hash == w.trees.empty() or existing.hash == subtree:
            # nothing to merge with: graft the new tree as it is (no per-file work)
            return subtree if not path else w.update_tree(tree, {path: w.trees.dir_entry(path, subtree)})
        prefix = path + "/" if path else ""
        changes = (
            (prefix + d.path, d.new) for d in w.trees.diff(existing.hash, subtree) if d.new is not None
        )
        return apply_changes(w, tree, changes)

    return edit


def edit_delete(paths: list[str]) -> TreeEdit:
    def edit(w: Writer, tree: str) -> str:
        changes: dict[str, Entry | None] = {}
        for p in paths:
            if not p:
                raise InvalidArgument("cannot delete the root directory; delete the paths inside it")
            if w.trees.get(tree, p) is None:
                raise PathNotFound(p)
            changes[p] = None
        return w.update_tree(tree, changes)

    return edit


# ----- storing data (done once, before the edit that publishes it) -----------------------


def store_source(
    ctx: Context,
    src: bytes | BinaryIO | str | os.PathLike[str],
    name: str,
    *,
    base: str | None = None,
    at: str = "",
    progress: Callable[[int], None] | None = None,
    follow_symlinks: bool = False,
    on_skip: Skipped | None = None,
) -> Entry:
    """Store bytes, a stream, a local file or a local directory; returns its entry.

    ``at`` is the repo path a directory goes to: each file's path below it must stay within
    the path limits, as trees are held to them when read. ``progress`` is called with byte
    counts as the input is taken in. Symbolic links are never followed out of a directory:
    without ``follow_symlinks`` every link (and special file) inside it is skipped, with it
    only links that stay inside are followed; each skipped entry is reported to
    ``on_skip``. A source that is itself a link is refused unless ``follow_symlinks`` (then
    its target is the source).

    Raises:
        InvalidArgument: a name or path the store refuses, or the source is a symbolic
            link (without ``follow_symlinks``).
    """
    with ctx.store.writer() as w:
        w.on_progress = progress
        if isinstance(src, bytes | bytearray | memoryview):
            return w.put_bytes(bytes(src), name)
        if isinstance(src, str | os.PathLike):
            p = Path(src)
            if p.is_symlink():
                if not follow_symlinks:
                    raise InvalidArgument(
                        f"{os.fspath(src)} is a symbolic link: datavc does not store links; "
                        "give the path it points to, or use --follow-symlinks"
                    )
                p = Path(os.path.realpath(p))
            if p.is_dir():
                builder = TreeBuilder(w.trees)
                prefix = at + "/" if at else ""
                with gcpause.paused():  # millions of acyclic tuples: see storage.gcpause
                    entries = w.iter_put_dir(p, base, follow_symlinks=follow_symlinks, on_skip=on_skip)
                    for rel, entry in entries:
                        problem = path_problem(prefix + rel)
                        if problem is not None:
                            raise InvalidArgument(f"{p / rel}: its repo path would be {problem}")
                        builder.add(rel, entry)
                    return w.trees.dir_entry(name, builder.finish())
            return w.put_file(p, name)
        return w.put_stream(src, name)


def store_chunks(ctx: Context, chunks: Iterable[Chunk], name: str) -> Entry:
    """Store one file given as chunks someone else cut (each hashed here; sizes checked, see
    :meth:`storage.writer.Writer.put_chunks`); returns its entry."""
    with ctx.store.writer() as w:
        return w.put_chunks(chunks, name)


# ----- reads ---------------------------------------------------------------------------


def list_files(ctx: Context, snap: Snapshot, path: str, *, recursive: bool = False) -> Iterator[FileInfo]:
    """Entries of the directory ``path`` (all files below it with ``recursive``); a file lists itself."""
    e = entry_at(ctx, snap, path)
    if not e.is_dir:
        yield file_info(snap, path, e)
        return
    prefix = path + "/" if path else ""
    if recursive:
        # Whole pages of files at once: the FileInfo tuples are built with no Python code per file.
        repo, commit, kind, one = repeat(snap.repo), repeat(snap.commit), repeat(FILE), repeat(1)
        for paths, sizes, hashes in ctx.store.trees.walk_runs(e.hash, prefix):
            yield from map(
                _new,
                repeat(FileInfo),
                zip(repo, commit, map("/".__add__, paths), kind, sizes, hashes, one, strict=False),
            )
    else:
        for f in ctx.store.trees.iter_dir(e.hash):
            yield file_info(snap, prefix + f.name, f)


_GLOB_MAGIC = re.compile(r"[*?\[]")


def glob_files(ctx: Context, snap: Snapshot, pattern: str) -> Iterator[FileInfo]:
    """Entries matching a glob (``*``, ``?``, ``[...]`` within a name; ``**`` across directories)."""
    parts = [p for p in pattern.strip("/").split("/") if p]
    if not parts:
        yield file_info(snap, "", entry_at(ctx, snap, ""))
        return
    yield from _glob(ctx, snap, snap.tree, "", parts)


def _glob(ctx: Context, snap: Snapshot, tree: str, prefix: str, parts: list[str]) -> Iterator[FileInfo]:
    head, rest = parts[0], parts[1:]
    trees = ctx.store.trees
    if head == "**":
        if rest:
            yield from _glob(ctx, snap, tree, prefix, rest)
        for e in trees.iter_dir(tree):
            if e.is_dir:
                if not rest:
                    yield file_info(snap, prefix + e.name, e)
                yield from _glob(ctx, snap, e.hash, prefix + e.name + "/", parts)
            elif not rest:
                yield file_info(snap, prefix + e.name, e)
        return
    if not _GLOB_MAGIC.search(head):
        found = trees.lookup(tree, head)
        candidates = [found] if found is not None else []
    else:
        candidates = [e for e in trees.iter_dir(tree) if fnmatch.fnmatchcase(e.name, head)]
    for e in candidates:
        if not rest:
            yield file_info(snap, prefix + e.name, e)
        elif e.is_dir:
            yield from _glob(ctx, snap, e.hash, prefix + e.name + "/", rest)


def diff_snapshots(ctx: Context, a: Snapshot, b: Snapshot) -> Iterator[DiffInfo]:
    for d in ctx.store.diff(a.tree, b.tree):
        yield DiffInfo(
            "/" + d.path,
            d.status,
            d.old.size if d.old else None,
            d.new.size if d.new else None,
            d.old.hash if d.old else None,
            d.new.hash if d.new else None,
        )
