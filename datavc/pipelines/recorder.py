"""Recording datum starts and ends off the datum's path, several to a transaction (group commit).

Why: a trivial datum runs in a few milliseconds, and two write transactions per datum
(started, done) cost as much again (SQLite takes its write lock and syncs the WAL for
each). The executor's threads hand their events to one recorder thread instead; it
applies every event that queued up while the previous transaction ran in one
transaction, so with fast datums many are recorded together and with slow ones each is
recorded as soon as it ends, with no added delay. Order is kept (a datum's start is
always written before its end).

A crash loses at most the events of the transaction in flight: those datums are still
``pending`` or ``running`` in the database and run again when the job resumes, which
is safe because datums are deterministic and outputs are content-addressed.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from datavc.context import Context
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome
from datavc.pipelines.runner import mark_done, mark_started


@dataclass(frozen=True, slots=True)
class _Event:
    datum: Datum
    outcome: Outcome | None  # None: the datum started
    process: str | None = None


_STOP = object()


class DatumRecorder:
    """Writes datum events for one job from a background thread; ``close`` waits for all of them.

    Raises (from ``started``, ``done`` or ``close``): whatever the last transaction raised
    (``BackendUnavailable`` when the database is gone), so a job never reports success
    with results it did not record.
    """

    def __init__(self, ctx: Context, job_id: str, pipeline_id: int) -> None:
        self._ctx = ctx
        self._job = job_id
        self._pipeline = pipeline_id
        self._queue: queue.SimpleQueue[_Event | object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self.transactions = 0
        self._thread = threading.Thread(target=self._loop, name=f"recorder-{job_id[:8]}", daemon=True)
        self._thread.start()

    def started(self, d: Datum, process: str | None = None) -> None:
        """Queue "datum ``d`` is running" (with the orphans note of its process, if any)."""
        self._check()
        self._queue.put(_Event(d, None, process))

    def done(self, d: Datum, o: Outcome) -> None:
        """Queue how datum ``d`` ended."""
        self._check()
        self._queue.put(_Event(d, o))

    def close(self) -> None:
        """Write everything queued, stop the thread, and raise what a transaction raised."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._check()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events = [e for e in batch if isinstance(e, _Event)]
            stop = len(events) != len(batch)
            if not events or self._error is not None:
                continue
            try:
                with self._ctx.db.write() as s:
                    for e in events:
                        if e.outcome is None:
                            mark_started(s, self._job, e.datum, e.process)
                        else:
                            mark_done(s, self._job, self._pipeline, e.datum, e.outcome)
                self.transactions += 1
            except BaseException as err:
                self._error = err
