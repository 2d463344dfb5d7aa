"""A remote directory put that starts sending before the walk of the directory has ended.

Why: a put of 20,000 small files walked the whole directory (a ``stat`` per file: 0.07 to
0.1 s) before its first byte left, and the server sat idle meanwhile. The walk has to come
first only to find large files, which travel on requests of their own, in parallel, into
an open commit (:func:`datavc.transfer.put_files`); a directory of small files goes as one
batch stream into one commit made once the stream is whole.

How: the first :data:`PEEK` files are walked first. If the walk ends there, or finds a
large file, the put goes as before. Otherwise a thread walks on while the batch stream
goes out with the files found so far. Should the thread find a large file, the stream is
cut; a cut stream commits nothing (the server refuses it and makes no commit), and the
put starts over as :func:`datavc.transfer.put_files` with every file walked. That case
costs what was sent until then (objects no commit refers to, for gc), at most about the
walk's time of sending. The rows walked are held in memory, as the walk before held them.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterator

from datavc import transfer
from datavc.info import CommitInfo

#: Files walked before deciding: a directory with fewer goes as before (walked first)
PEEK = 1000
_BLOCK = 256  # rows handed from the walking thread at a time (a hand-off per row cost more)

Row = tuple[str, str, int]  # batch.local_files: local path, path below the put's, size


class _LargeFile(Exception):
    """The walk found a file that travels on its own request: the batch stream is cut."""


class _Walker:
    """The rest of a walk, on a thread of its own: its rows, a block at a time, until a large file."""

    def __init__(self, walk: Iterator[Row]) -> None:
        self._walk = walk
        self._blocks: queue.SimpleQueue[list[Row] | None] = queue.SimpleQueue()
        self.rows: list[Row] = []
        self.large = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="datavc-walk", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        block: list[Row] = []
        try:
            for row in self._walk:
                self.rows.append(row)
                if self.large:
                    continue  # walked to its end all the same: the put starts over with every row
                if row[2] >= transfer.LARGE:
                    self.large = True
                    continue
                block.append(row)
                if len(block) >= _BLOCK:
                    self._blocks.put(block)
                    block = []
        except BaseException as err:  # handed to the sending thread, raised there
            self.error = err
        finally:
            if block and not self.large:
                self._blocks.put(block)
            self._blocks.put(None)

    def blocks(self) -> Iterator[list[Row]]:
        """The rows as they are walked. Raises what the walk raised, or :class:`_LargeFile`."""
        while not self.large:
            block = self._blocks.get()
            if block is None:
                break
            yield block
        self._thread.join()
        if self.error is not None:
            raise self.error
        if self.large:
            raise _LargeFile

    def finish(self) -> list[Row]:
        """Every row, once the walk has ended."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.rows


def put_dir(
    rc: transfer.RemoteClient,
    repo: str,
    branch: str,
    p: str,
    walk: Iterator[Row],
    message: str,
    commit: str | None,
    progress: transfer.Progress | None,
) -> CommitInfo:
    """:func:`datavc.transfer.put_files` of the rows of ``walk``, sending while it goes on (module doc)."""
    first = list(itertools.islice(walk, PEEK))
    if len(first) < PEEK or any(size >= transfer.LARGE for _, _, size in first):
        return transfer.put_files(rc, repo, branch, p, first + list(walk), message, commit, progress)
    walker = _Walker(walk)

    def rows() -> Iterator[Row]:
        yield from first
        for block in walker.blocks():
            yield from block

    try:
        return transfer.put_walked(rc, repo, branch, p, rows(), message, commit, progress)
    except _LargeFile:
        return transfer.put_files(rc, repo, branch, p, first + walker.finish(), message, commit, progress)
