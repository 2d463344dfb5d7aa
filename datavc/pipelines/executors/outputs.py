"""Storing datum outputs with one durability barrier for many datums.

Why: a trivial datum's output is one small file and one tree object, and a writer per
datum makes each of them durable on its own (a pack and a tree, each fsynced with its
directory: four fsyncs, several milliseconds on most disks, more than the datum itself).
``OutputStore`` keeps one writer for the whole job; every datum's files go into shared
packs, and a datum is reported done only after a ``flush`` that covers it: the reporter
thread flushes once for every datum that finished while the previous flush ran, then
reports them all. A datum's result is therefore never recorded before its outputs are
durable. Barriers are at least ``WINDOW`` apart, so a slow datum's report waits at most
that long, while a burst of fast datums shares one barrier.

The outputs of the datums between two barriers also share packs: ``put_dir`` reads a
datum's files at once (its directory can be removed) but leaves them in the writer's
open pack and returns a placeholder; the barrier builds every pending tree, seals one
pack for all of them, and ``report`` hands on each outcome with its real tree id. Why: a
pack per datum meant one upload and two fsyncs per datum, which capped a batched
transform at about 130 datums/s on this machine's disk.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from datavc.context import Context
from datavc.pipelines import orphans
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome
from storage.writer import Writer

WINDOW = 0.05  # seconds between durability barriers
_PLACEHOLDER = "pending-output:"  # never a tree id (those are hex digests)


class OutputStore:
    """One writer shared by a job's datum threads; ``report`` hands outcomes on once durable."""

    def __init__(self, ctx: Context, on_done: Callable[[Datum, Outcome], None]) -> None:
        self._ctx = ctx
        self._writer: Writer = ctx.store.writer()
        self._on_done = on_done
        self._lock = threading.Lock()  # guards the writer
        self._cond = threading.Condition()
        self._pending: list[tuple[Datum, Outcome]] = []
        self._closing = False
        self._error: BaseException | None = None
        self._serial = itertools.count()
        self._open: dict[str, Callable[[], str]] = {}  # placeholder -> tree builder (current writer)
        self._trees: dict[str, str] = {}  # placeholder -> tree id, once built
        self._thread = threading.Thread(target=self._loop, name="datum-outputs", daemon=True)
        self._thread.start()

    def put_dir(self, path: Path) -> str:
        """Take in ``path`` (symbolic links not followed) now; return a placeholder for its tree id.

        The placeholder is only meaningful to ``report``, which replaces it with the tree id
        (built and durable at the next barrier) before the outcome is handed on.
        """
        with self._lock:
            finish = self._writer.put_dir_later(path, follow_symlinks=False)
            token = f"{_PLACEHOLDER}{next(self._serial)}"
            self._open[token] = finish
            return token

    def report(self, d: Datum, o: Outcome) -> None:
        """Report ``d``'s outcome once every output stored so far is durable."""
        with self._cond:
            if self._error is not None:
                raise self._error
            self._pending.append((d, o))
            self._cond.notify()

    def close(self) -> None:
        """Flush, report what is left, close the writer; raise what a flush or report raised."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        with self._lock:
            if self._error is None:
                self._writer.close()
            else:
                self._writer.abort()
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        last = 0.0
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                # At most one barrier per WINDOW: fast datums share it, a slow one waits
                # at most WINDOW to be reported (its process has ended already).
                wait = last + WINDOW - time.monotonic()
                if wait > 0 and not self._closing:
                    self._cond.wait(wait)
                batch, self._pending = self._pending, []
                if not batch and self._closing:
                    return
            if self._error is not None:
                continue
            try:
                if any(o.output_tree for _, o in batch):
                    # Swap in a fresh writer and make the old one durable outside the lock:
                    # datum threads keep storing outputs while the trees are built and the
                    # fsyncs run. Every placeholder in this batch was made before it was
                    # reported, so before this swap: its tree is built here at the latest.
                    with self._lock:
                        full, self._writer = self._writer, self._ctx.store.writer()
                        builders, self._open = self._open, {}
                    built = {token: finish() for token, finish in builders.items()}
                    full.close()
                    self._trees.update(built)
                    last = time.monotonic()
                for d, o in batch:
                    if o.output_tree is not None and o.output_tree.startswith(_PLACEHOLDER):
                        o = replace(o, output_tree=self._trees.pop(o.output_tree))
                    self._on_done(d, o)
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
