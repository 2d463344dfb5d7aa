"""Files in commits: put (bytes, streams, local files, directories), get, list, glob, delete, copy, diff."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from datavc.commits import TreeEdit, apply_changes
from datavc.context import Context, storage_errors
from datavc.errors import Conflict, InvalidArgument, PathNotFound
from datavc.info import DiffInfo, FileInfo
from datavc.refs import get_commit, resolve
from datavc.repos import get_repo
from storage.model import Entry
from storage.writer import Writer


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
    with storage_errors():
        e = ctx.store.get_entry(snap.tree, path)
    if e is None:
        raise PathNotFound(f"{snap.repo}@{snap.commit[:12]}:/{path} not found")
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
                raise PathNotFound(f"/{p} not found")
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
    progress: Callable[[int], None] | None = None,
) -> Entry:
    """Store bytes, a stream, a local file or a local directory; returns its entry.

    ``progress`` is called with byte counts as the input is taken in.
    """
    with storage_errors(), ctx.store.writer() as w:
        w.on_progress = progress
        if isinstance(src, bytes | bytearray | memoryview):
            return w.put_bytes(bytes(src), name)
        if isinstance(src, str | os.PathLike):
            p = Path(src)
            if p.is_dir():
                root = w.put_dir(p, base=base)
                return w.trees.dir_entry(name, root)
            return w.put_file(p, name)
        return w.put_stream(src, name)


# ----- reads ---------------------------------------------------------------------------


def list_files(ctx: Context, snap: Snapshot, path: str, *, recursive: bool = False) -> Iterator[FileInfo]:
    """Entries of the directory ``path`` (all files below it with ``recursive``); a file lists itself."""
    e = entry_at(ctx, snap, path)
    if not e.is_dir:
        yield file_info(snap, path, e)
        return
    prefix = path + "/" if path else ""
    with storage_errors():
        if recursive:
            for p, f in ctx.store.trees.walk(e.hash, prefix):
                yield file_info(snap, p, f)
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
    with storage_errors():
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
    with storage_errors():
        for d in ctx.store.diff(a.tree, b.tree):
            yield DiffInfo(
                "/" + d.path,
                d.status,
                d.old.size if d.old else None,
                d.new.size if d.new else None,
                d.old.hash if d.old else None,
                d.new.hash if d.new else None,
            )
