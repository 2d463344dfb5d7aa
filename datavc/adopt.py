"""Adopt a directory: turn existing files into a working copy of a branch, in one pass.

The alternative (``put`` the directory, move it away, ``checkout``, delete the copy) reads
and writes every byte three times. Adopting reads each file once: it is hashed and
uploaded as ``put`` does (small files packed), and its size, mtime and hash go straight
into the checkout index, so the user's files are never rewritten (the index is written by a
second thread while the files are read). The branch's new commit
holds exactly the directory's files (a file the branch had and the directory lacks is
deleted in that commit), as ``dvc add`` of a directory records it.

Why ``checkout --adopt``: the result is what ``checkout`` makes (a working copy that
``status`` and ``commit`` understand), only its files come from the directory instead of
the store; a separate ``track`` verb would be a second way to make the same thing.
"""

from __future__ import annotations

import os
import queue
import shutil
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from datavc.files import Snapshot


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
    if co.exists():
        raise InvalidArgument(f"{root} is already a datavc checkout: use status and commit there")
    head, is_branch = _resolve(ctx, repo, branch)
    if not is_branch:
        raise InvalidArgument(f"{branch!r} is not a branch of {repo!r}: adopt commits to a branch")
    try:
        kind = os.lstat(co.meta).st_mode
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISDIR(kind):  # a link or file of that name: not ours to follow or remove
            raise InvalidArgument(f"{co.meta} exists and is not a directory: move it away to adopt {root}")
        # A checkout directory without state.json is what an interrupted adopt or checkout
        # left: datavc's own scratch (no user file lives in it), and no working copy yet.
        shutil.rmtree(co.meta)
    co.clean_tmp()  # makes the directory: the walk below leaves it out
    started_ns = time.time_ns()
    loader = _IndexLoader(co.meta / "index.sqlite")
    loader.start()
    try:
        with gcpause.paused():  # millions of acyclic tuples: see storage.gcpause
            commit, commit_tree, count = _adopt(
                ctx, loader, root, repo, branch, head, started_ns, message, on_skip
            )
    except BaseException:
        loader.finish(None)
        shutil.rmtree(co.meta, ignore_errors=True)
        raise
    home = str(ctx.home) if ctx.home else ""
    co.save(_State(home, repo, branch, commit, commit_tree))
    return CheckoutInfo(repo, branch, commit, branch, str(root), 0, 0, count)


def _adopt(
    ctx: Context,
    loader: _IndexLoader,
    root: Path,
    repo: str,
    branch: str,
    head: Snapshot,
    started_ns: int,
    message: str,
    on_skip: Skipped | None,
) -> tuple[str, str, int]:
    """Store the files, commit them and write the index; (commit, tree, files indexed)."""
    dir_rows = localscan.DirRows()  # the per-directory copy status compares against
    batch: list[_Row] = []
    count = 0
    with ctx.store.writer() as w:
        builder = TreeBuilder(w.trees)
        walk = w.iter_put_dir_stat(root, None, follow_symlinks=False, on_skip=on_skip, leave_out=META)
        for rel, entry, st, at in walk:
            name = rel.rsplit("/", 1)[-1]
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                continue  # an interrupted get -o's temp file: never a user file
            problem = path_problem(rel)
            if problem is not None:
                raise InvalidArgument(f"{root / rel}: its repo path would be {problem}")
            builder.add(rel, entry)
            # The stat was taken before the file was read: a change after it gives the file another
            # mtime, so status hashes it again. One in the same clock tick as the adopt, or a read
            # that saw another size, gets mtime -1: the row does not vouch for the stored hash.
            mtime = st.st_mtime_ns if st.st_mtime_ns < started_ns and entry.size == st.st_size else -1
            batch.append((_key(rel), rel, st.st_size, mtime, entry.hash))
            dir_rows.add(rel, st.st_size, mtime, at)
            if len(batch) == _IndexLoader.BATCH:
                loader.add(batch)
                count += len(batch)
                batch = []
        tree = builder.finish()
    loader.add(batch)
    count += len(batch)
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
    loader.finish(dir_rows.finish())
    return commit, commit_tree, count


_Row = tuple[bytes, str, int, int, str]


class _IndexLoader(threading.Thread):
    """Writes the new index's rows on its own connection while the walk goes on.

    Why a thread: SQLite works with the GIL released, so on a second core the index costs an
    adopt little beyond a put (written after the walk it was a fifth of the put's time on
    20,000 files). The rows stay in one open transaction, committed only once the branch's
    commit is made; rows come in batches through a bounded queue, so memory stays flat.
    """

    BATCH = 1000

    def __init__(self, path: Path) -> None:
        super().__init__(name="adopt-index", daemon=True)
        self._path = path
        self._queue: queue.Queue[list[_Row] | None] = queue.Queue(maxsize=16)  # None: no more rows
        self._dirs: list[tuple[str, str, bytes, bytes]] | None = None
        self._error: BaseException | None = None

    def add(self, rows: list[_Row]) -> None:
        self._queue.put(rows)

    def finish(self, dirs: list[tuple[str, str, bytes, bytes]] | None) -> None:
        """Commit with these ``dirs`` rows, or (None) roll back; raises what the loader hit."""
        self._dirs = dirs
        self._queue.put(None)
        self.join()
        if self._error is not None and dirs is not None:
            raise self._error

    def run(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(self._path)
            localscan.create_schema(db)
            db.execute("BEGIN")  # one transaction, one commit: the triggers' drop and restore too
            localscan.drop_triggers(db)  # a new index: its dirs rows are written with it
        except BaseException as err:  # raised in the adopting thread by finish()
            self._error = err
        while (rows := self._queue.get()) is not None:  # drained even after an error: add() never blocks
            if db is not None and self._error is None:
                try:
                    localscan.insert_files(db, rows)
                except BaseException as err:
                    self._error = err
        try:
            if db is not None and self._error is None and self._dirs is not None:
                localscan.store_dir_rows(db, self._dirs)
                localscan.restore_triggers(db)
                db.commit()
        except BaseException as err:
            self._error = err
        finally:
            if db is not None:
                db.close()  # uncommitted rows are rolled back
