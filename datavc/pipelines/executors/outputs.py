"""Storing datum outputs with one durability barrier for many datums (a group commit).

Why: a trivial datum's output is one small file and one tree object, and a writer per
datum makes each of them durable on its own (a pack and a tree, each fsynced with its
directory: four fsyncs, several milliseconds on most disks, more than the datum itself).
``OutputStore`` keeps one writer at a time for the job (a batched worker hands it a
datum's output directory and goes on; its thread stores the directory) (``group_sync``: objects are
written now and flushed at the writer's barrier), with upload threads shared by all of
them; every datum's files go into shared packs, and a datum is reported done only after
a barrier that covers it: the reporter thread swaps in a fresh writer and closes the old
one (every object it wrote or reused is flushed, many at once) for every datum that
finished meanwhile, then reports them all. A datum's result is therefore never recorded
before its outputs are durable (the crash rule: a job resumes after the last recorded
datum). Barriers are at least ``WINDOW`` apart, so a slow datum's report waits at most
that long, while a burst of fast datums shares one barrier.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from datavc.context import Context
from datavc.pipelines import orphans
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome
from storage.writer import Writer

WINDOW = 0.05  # seconds between durability barriers
_STORE_BATCH = 64  # datums stored per hold of the writer's lock
_GATHER = 0.025  # seconds the storing thread waits for more datums (half a WINDOW: ~2 packs per barrier)

# A datum to report: its outcome, and its outputs still to store (if any): a directory with
# what removes it afterwards, or the files themselves, read into memory (small outputs).
_Files = list[tuple[str, bytes]]
_Item = tuple[Datum, Outcome, Path | None, Callable[[Path], None] | None, _Files | None]


class OutputSink(Protocol):
    """Where a successful datum's outputs go: ``OutputStore``, or a server for a worker pod."""

    def put_dir(self, path: Path) -> str: ...


class OutputStore:
    """One writer shared by a job's datum threads; ``report`` hands outcomes on once durable."""

    def __init__(
        self, ctx: Context, on_done: Callable[[Datum, Outcome], None], *, inline_writes: bool = False
    ) -> None:
        """``inline_writes``: objects are written by the thread that stores them (see
        :class:`~storage.writer.Writer`): for the batched executor, which stores from this
        object's own thread; datum threads that call ``put_dir`` should not wait for writes."""
        self._ctx = ctx
        self._inline = inline_writes
        # One set of upload threads for the job: a writer per barrier would start its own.
        # (With inline writes they only flush, at barriers; 8 or 16 did no better than 4.)
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="datum-put")
        self._writer: Writer = self._new_writer()
        self._on_done = on_done
        self._lock = threading.Lock()  # guards the writer and what was stored into it
        self._in_writer: list[tuple[Datum, Outcome]] = []  # stored into _writer, not yet reported
        self._cond = threading.Condition()
        self._pending: list[_Item] = []
        self._closing = False
        self._stored_all = False  # the storing thread has ended (after ``close``)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="datum-outputs", daemon=True)
        self._barriers = threading.Thread(target=self._barrier_loop, name="datum-barrier", daemon=True)
        self._thread.start()
        self._barriers.start()

    def _new_writer(self) -> Writer:
        return self._ctx.store.writer(group_sync=True, pool=self._pool, inline_writes=self._inline)

    def put_dir(self, path: Path) -> str:
        """Store ``path`` (symbolic links not followed) and return its tree id (durable at the next flush)."""
        with self._lock:
            return self._writer.put_dir(path, follow_symlinks=False)

    def report(self, d: Datum, o: Outcome) -> None:
        """Report ``d``'s outcome once every output stored so far is durable."""
        self._add((d, o, None, None, None))

    def store_and_report(self, d: Datum, o: Outcome, path: Path, remove: Callable[[Path], None]) -> None:
        """Store directory ``path`` as ``d``'s outputs (then ``remove(path)``), from the
        reporting thread, and report ``o`` with that tree once it is durable."""
        self._add((d, o, path, remove, None))

    def store_files_and_report(self, d: Datum, o: Outcome, files: _Files) -> None:
        """Store ``files`` (``(relative path, content)``, a small output read into memory) as
        ``d``'s outputs, from the reporting thread, and report ``o`` with that tree once durable.

        The files of every datum stored between two barriers go into shared packs (a pack
        per datum was half of a trivial datum's objects, each a file created and flushed).
        """
        self._add((d, o, None, None, files))

    def _add(self, item: _Item) -> None:
        with self._cond:
            if self._error is not None:
                raise self._error
            self._pending.append(item)
            if len(self._pending) in (1, _STORE_BATCH):  # else the storing thread is awake or gathering
                self._cond.notify_all()

    def close(self) -> None:
        """Flush, report what is left, close the writer; raise what a flush or report raised."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._barriers.join()
        try:
            with self._lock:
                if self._error is None:
                    self._writer.close()
                else:
                    self._writer.abort()
        finally:
            self._pool.shutdown(wait=True)
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        """The storing thread: stores what datums hand in, into the current writer.

        It does not wait for barriers: while one makes a writer durable, the next datums'
        outputs go into the next writer (the two overlap; a barrier covers all stored before it).
        """
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._closing:
                        self._cond.wait()
                    if len(self._pending) < _STORE_BATCH and not self._closing:
                        self._cond.wait(_GATHER)  # a few more datums: one pack for all of them
                    batch, self._pending = self._pending[:_STORE_BATCH], self._pending[_STORE_BATCH:]
                    if not batch and self._closing:
                        return
                if self._error is None:
                    self._store(batch)
        except BaseException as err:
            self._error = err
        finally:
            with self._cond:
                self._stored_all = True
                self._cond.notify_all()

    def _store(self, batch: list[_Item]) -> None:
        in_memory = [files for *_, files in batch if files is not None]
        done: list[tuple[Datum, Outcome]] = []
        with self._lock:
            # The small outputs' trees go into one tree pack: an object file per datum's
            # tree (and a fresh store's fan-out directories for it) was most of this thread.
            roots, pack = self._writer.put_file_sets(in_memory, tree_pack=True) if in_memory else ([], None)
            trees = iter(roots)
            for d, o, path, remove, files in batch:
                if files is not None:
                    o = dataclasses.replace(o, output_tree=next(trees), output_pack=pack)
                elif path is not None and remove is not None:
                    try:
                        tree = self._writer.put_dir(path, follow_symlinks=False)
                    finally:
                        remove(path)
                    o = dataclasses.replace(o, output_tree=tree)
                done.append((d, o))
            self._in_writer += done
        with self._cond:
            self._cond.notify_all()  # the barrier thread

    def _barrier_loop(self) -> None:
        """The barrier thread: makes the stored outputs durable, then reports their datums.

        At most one barrier per ``WINDOW``: fast datums share it, a slow one waits at most
        that long to be reported (its process has ended already). A datum is reported only
        after a barrier that covers its outputs (the crash rule).
        """
        last = 0.0
        try:
            while True:
                with self._cond:
                    while not self._in_writer and not self._stored_all:
                        self._cond.wait()
                    while not self._stored_all and (wait := last + WINDOW - time.monotonic()) > 0:
                        self._cond.wait(wait)
                    finished = self._stored_all
                with self._lock:
                    done, self._in_writer = self._in_writer, []
                    full: Writer | None = None
                    if any(o.output_tree for _, o in done) and self._error is None:
                        # A fresh writer for what comes next; the old one is made durable
                        # outside the lock while the storing thread goes on.
                        full, self._writer = self._writer, self._new_writer()
                if self._error is not None:
                    return
                if full is not None:
                    full.close()
                    last = time.monotonic()
                for d, o in done:
                    self._on_done(d, o)
                if finished and not done:
                    return
        except BaseException as err:
            self._error = err


class Trash:
    """Removes finished datums' scratch directories in a background thread.

    Why: removing even a tiny directory tree costs milliseconds of file system metadata
    work, as much as a trivial datum; a rename into ``<root>/.trash`` is one call, and the
    removal overlaps the next datum. Whatever is left at ``close`` goes with the job's root.
    """

    def __init__(self, root: Path) -> None:
        self._dir = root / orphans.TRASH
        self._dir.mkdir(exist_ok=True)
        self._queue: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._n = itertools.count()
        self._thread = threading.Thread(target=self._loop, name="datum-trash", daemon=True)
        self._thread.start()

    def discard(self, path: Path) -> None:
        """Move ``path`` out of the way now; it is deleted soon."""
        target = self._dir / f"{next(self._n)}"
        try:
            os.rename(path, target)
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
            return
        self._queue.put(target)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while (p := self._queue.get()) is not None:
            shutil.rmtree(p, ignore_errors=True)
