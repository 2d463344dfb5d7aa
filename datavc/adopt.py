"""Adopt a directory: turn existing files into a working copy of a branch, in one pass.

The alternative (``put`` the directory, move it away, ``checkout``, delete the copy) reads
and writes every byte three times. Adopting reads each file once: it is hashed and
uploaded as ``put`` does (small files packed), and its size, mtime and hash go straight
into the checkout index, so the user's files are never rewritten. The branch's new commit
holds exactly the directory's files (a file the branch had and the directory lacks is
deleted in that commit), as ``dvc add`` of a directory records it.

Why ``checkout --adopt``: the result is what ``checkout`` makes (a working copy that
``status`` and ``commit`` understand), only its files come from the directory instead of
the store; a separate ``track`` verb would be a second way to make the same thing.
"""

from __future__ import annotations

import marshal
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from datavc import localscan
from datavc.commits import one_shot
from datavc.context import Context
from datavc.errors import InvalidArgument
from datavc.info import CheckoutInfo
from datavc.localscan import key as _key
from datavc.workdir import (
    META,
    TEMP_SUFFIX,
    Skipped,
    _Checkout,
    _resolve,
    _State,
)
from storage import gcpause
from storage.model import path_problem
from storage.tree import TreeBuilder


def adopt(
    ctx: Context,
    repo: str,
    branch: str,
    dest: str | os.PathLike[str],
    *,
    message: str = "",
    on_skip: Skipped | None = None,
) -> CheckoutInfo:
    """Make the directory ``dest`` a working copy of ``repo@branch`` whose commit is its content.

    Raises:
        InvalidArgument: ``dest`` is not a directory or already a checkout, ``branch`` is not
            a branch, or a name the store refuses; BranchMoved: another writer committed to
            the branch meanwhile (run it again).
    """
    root = Path(dest).absolute()
    if not root.is_dir():
        raise InvalidArgument(f"{root} is not a directory: adopt needs an existing one")
    co = _Checkout(root)
    if co.exists() or (root / META).exists():
        raise InvalidArgument(f"{root} is already a datavc checkout: use status and commit there")
    head, is_branch = _resolve(ctx, repo, branch)
    if not is_branch:
        raise InvalidArgument(f"{branch!r} is not a branch of {repo!r}: adopt commits to a branch")
    started_ns = time.time_ns()
    rows = _Spill()
    prefix = os.fspath(root).rstrip("/") + "/"  # lstat by string: a Path per file cost ~3 us
    with ctx.store.writer() as w, gcpause.paused():  # millions of acyclic tuples: see storage.gcpause
        builder = TreeBuilder(w.trees)
        for rel, entry in w.iter_put_dir(root, None, follow_symlinks=False, on_skip=on_skip):
            name = rel.rsplit("/", 1)[-1]
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                continue  # an interrupted get -o's temp file: never a user file
            problem = path_problem(rel)
            if problem is not None:
                raise InvalidArgument(f"{root / rel}: its repo path would be {problem}")
            builder.add(rel, entry)
            st = os.lstat(prefix + rel)
            # A file changed while it was read gets mtime -1: its row must not vouch for the stored hash.
            mtime = st.st_mtime_ns if st.st_mtime_ns < started_ns else -1
            rows.add((_key(rel), rel, st.st_size, mtime, entry.hash))
        tree = builder.finish()
    if tree == head.tree:
        commit, commit_tree = head.commit, head.tree
    else:
        info = one_shot(
            ctx,
            repo,
            branch,
            lambda _w, _tree: tree,
            message=message or f"adopt {root.name}",
            mode="strict",
        )
        commit, commit_tree = info.id, info.tree
    home = str(ctx.home) if ctx.home else ""
    try:
        co.clean_tmp()
        dir_rows = localscan.DirRows(root)  # the per-directory copy status compares against

        def index_rows() -> Iterator[_Row]:
            for row in rows.read():
                dir_rows.add(row[1], row[2], row[3])
                yield row

        localscan.drop_triggers(co.db)  # a new index: its dirs rows are written below
        co.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", index_rows())
        localscan.store_dir_rows(co.db, dir_rows.finish())
        localscan.restore_triggers(co.db)
        co.db.commit()
        co.save(_State(home, repo, branch, commit, commit_tree))
    finally:
        co.close()
    return CheckoutInfo(repo, branch, commit, branch, str(root), 0, 0, rows.count)


_Row = tuple[bytes, str, int, int, str]


class _Spill:
    """The index rows of an adopt, spilled to a temporary file in batches.

    Why: they can only be written once the commit is made, and a million of them held as
    Python tuples cost ~1 GiB; marshalled batches on disk keep adopt's memory flat. A
    batch is 100,000 rows (~30 MiB): an adopt of fewer files never touches the file
    (dumping and loading 20,000 rows was a fifth of the time an adopt adds to a put).
    """

    BATCH = 100_000

    def __init__(self) -> None:
        # Closed by read(); unlinked from the start, so an adopt that fails leaves nothing behind.
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self._batch: list[_Row] = []
        self.count = 0

    def add(self, row: _Row) -> None:
        self._batch.append(row)
        self.count += 1
        if len(self._batch) >= self.BATCH:
            marshal.dump(self._batch, self._file)
            self._batch = []

    def read(self) -> Iterator[_Row]:
        """Every row added, in order; then the file is closed."""
        with self._file:
            self._file.seek(0)
            while True:
                try:
                    batch = marshal.load(self._file)
                except EOFError:
                    break
                yield from batch
            yield from self._batch
