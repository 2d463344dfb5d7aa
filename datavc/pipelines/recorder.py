"""Recording datum starts and ends off the datum's path, several to a transaction (group commit).

Why: a trivial datum runs in a few milliseconds, and two write transactions per datum
(started, done) cost as much again (SQLite takes its write lock and syncs the WAL for
each). The executor's threads hand their events to one recorder thread instead; it
applies every event that queued up in one transaction, at most one per ``WINDOW``
(50 ms): fast datums are recorded many together, a slow one at most 50 ms after it
ends. Per datum the order is kept (a start is never written after its end).

A crash loses at most the events of the transaction in flight: those datums are still
``pending`` or ``running`` in the database and run again when the job resumes, which
is safe because datums are deterministic and outputs are content-addressed.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, Text, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from datavc import tree_pages
from datavc.context import Context, now
from datavc.db.models import Datum as DatumRow
from datavc.db.models import DatumResult, Job
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome


@dataclass(frozen=True, slots=True)
class _Event:
    datum: Datum
    outcome: Outcome | None  # None: the datum started
    process: str | None = None


_STOP = object()
WINDOW = 0.05  # seconds between transactions (a datum's record waits at most this long)
_CHUNK = 500  # hashes per IN (...) list (SQLite's bound-parameter limit)

# Core statements built once: the ORM's per-statement work (building, cache keys, bulk
# synchronisation) cost more CPU per datum than the datum's own process.
_DATUMS = cast(Table, DatumRow.__table__)
_RESULTS = cast(Table, DatumResult.__table__)
_JOBS = cast(Table, Job.__table__)
_SELECT_STATES = select(_DATUMS.c.datum_hash, _DATUMS.c.state).where(
    _DATUMS.c.job_id == bindparam("job"), _DATUMS.c.datum_hash.in_(bindparam("hashes", expanding=True))
)
_UPDATE_DONE = (
    update(_DATUMS)
    .where(_DATUMS.c.job_id == bindparam("job"), _DATUMS.c.datum_hash == bindparam("h"))
    .values(
        {
            k: bindparam(k)
            for k in ("state", "tries", "exit_code", "logs", "duration", "output_tree", "finished_at")
        }
        | {"process": None}
    )
)
_UPDATE_STARTED = (
    update(_DATUMS)
    .where(_DATUMS.c.job_id == bindparam("job"), _DATUMS.c.datum_hash == bindparam("h"))
    .values(
        state="running",
        started_at=bindparam("started_at"),
        process=func.coalesce(bindparam("p", type_=Text()), _DATUMS.c.process),
    )
)
_UPDATE_COUNTERS = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job"))
    .values(
        datums_processed=_JOBS.c.datums_processed + bindparam("ds"),
        datums_failed=_JOBS.c.datums_failed + bindparam("df"),
    )
)
_SELECT_KNOWN = select(_RESULTS.c.datum_hash).where(
    _RESULTS.c.pipeline_id == bindparam("pid"), _RESULTS.c.datum_hash.in_(bindparam("hashes", expanding=True))
)
_UPDATE_RESULT = (
    update(_RESULTS)
    .where(_RESULTS.c.pipeline_id == bindparam("pid"), _RESULTS.c.datum_hash == bindparam("h"))
    .values(output_tree=bindparam("tree"))
)


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

    def _flush(self, s: Session, events: list[_Event]) -> None:
        """Write a batch of datum events with a fixed handful of statements, whatever its size.

        Per datum only its last end is written, or, if it did not end in this batch, its
        start (a datum that started and ended within one batch needs only its end: the end
        moves the counters from whatever state it was in).
        """
        ends = {e.datum.hash: e for e in events if e.outcome is not None}
        starts = {e.datum.hash: e for e in events if e.outcome is None and e.datum.hash not in ends}
        conn = s.connection()
        hashes = [*ends, *starts]
        before: dict[str, str] = {}
        for i in range(0, len(hashes), _CHUNK):
            before.update(
                conn.execute(_SELECT_STATES, {"job": self._job, "hashes": hashes[i : i + _CHUNK]}).all()
            )
        delta = {"success": 0, "failed": 0}
        if ends:
            t = now()
            rows = []
            for h, e in ends.items():
                o = e.outcome
                assert o is not None
                state = "success" if o.ok else "failed"
                rows.append(
                    {
                        "job": self._job,
                        "h": h,
                        "state": state,
                        "tries": o.tries,
                        "exit_code": o.exit_code,
                        "logs": o.logs,
                        "duration": o.duration,
                        "output_tree": o.output_tree,
                        "finished_at": t,
                    }
                )
                delta[state] += 1
                if before.get(h) in delta:
                    delta[before[h]] -= 1
            conn.execute(_UPDATE_DONE, rows)
        if starts:
            t = now()
            conn.execute(
                _UPDATE_STARTED,
                [{"job": self._job, "h": h, "started_at": t, "p": e.process} for h, e in starts.items()],
            )
            # A datum that failed before (a resumed job) is no longer counted as failed while it runs.
            delta["failed"] -= sum(1 for h in starts if before.get(h) == "failed")
        if delta["success"] or delta["failed"]:
            conn.execute(_UPDATE_COUNTERS, {"job": self._job, "ds": delta["success"], "df": delta["failed"]})
        results = {
            h: e.outcome.output_tree
            for h, e in ends.items()
            # A datum recovered by err_cmd is not remembered: the next job runs it again.
            if e.outcome is not None and e.outcome.ok and e.outcome.output_tree and not e.outcome.recovered
        }
        if results:
            _remember_many(conn, self._pipeline, {h: (tree, ends[h].datum) for h, tree in results.items()})
        packed = {
            e.outcome.output_tree: e.outcome.output_pack
            for e in ends.values()
            if e.outcome is not None and e.outcome.output_tree and e.outcome.output_pack
        }
        if packed:  # in the datums' own transaction: never a datum whose tree nobody can find
            tree_pages.record(conn, packed)

    def _loop(self) -> None:
        stop = False
        last = 0.0
        while not stop:
            batch = [self._queue.get()]
            # At most one transaction per WINDOW: events of fast datums share it.
            pause = last + WINDOW - time.monotonic()
            if pause > 0 and batch[0] is not _STOP:
                time.sleep(pause)
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
                    self._flush(s, events)
                self.transactions += 1
                last = time.monotonic()
            except BaseException as err:
                self._error = err


def _remember_many(conn: Connection, pipeline_id: int, results: dict[str, tuple[str, Datum]]) -> None:
    """``_remember`` for many datums: new results inserted, known ones (reprocessed) replaced."""
    hashes = list(results)
    known: set[str] = set()
    for i in range(0, len(hashes), _CHUNK):
        known.update(conn.scalars(_SELECT_KNOWN, {"pid": pipeline_id, "hashes": hashes[i : i + _CHUNK]}))
    new = [
        {
            "pipeline_id": pipeline_id,
            "datum_hash": h,
            "output_tree": tree,
            "inputs": json.dumps(d.key),
        }
        for h, (tree, d) in results.items()
        if h not in known
    ]
    if new:
        conn.execute(insert(_RESULTS), new)
    if known:
        # Run again (reprocess): the newer output replaces the older, so later jobs that
        # skip the datum reuse the output now in the output commit.
        conn.execute(_UPDATE_RESULT, [{"pid": pipeline_id, "h": h, "tree": results[h][0]} for h in known])


def mark_started(s: Session, job_id: str, d: Datum, process: str | None = None) -> None:
    """``datum_started`` inside the caller's transaction (``process``: the orphans note, if any)."""
    before = s.scalar(select(DatumRow.state).where(DatumRow.job_id == job_id, DatumRow.datum_hash == d.hash))
    if before == "failed":
        s.execute(update(Job).where(Job.id == job_id).values(datums_failed=Job.datums_failed - 1))
    s.execute(
        update(DatumRow)
        .where(DatumRow.job_id == job_id, DatumRow.datum_hash == d.hash)
        .values(state="running", started_at=now(), **({"process": process} if process else {}))
    )


def mark_done(
    s: Session, job_id: str, pipeline_id: int, d: Datum, o: Outcome, *, accumulate_tries: bool = False
) -> None:
    """``datum_done`` inside the caller's transaction (the recorder batches several in one)."""
    before = s.scalar(select(DatumRow.state).where(DatumRow.job_id == job_id, DatumRow.datum_hash == d.hash))
    tries = DatumRow.tries + o.tries if accumulate_tries else o.tries
    s.execute(
        update(DatumRow)
        .where(DatumRow.job_id == job_id, DatumRow.datum_hash == d.hash)
        .values(
            state="success" if o.ok else "failed",
            tries=tries,
            exit_code=o.exit_code,
            logs=o.logs,
            duration=o.duration,
            output_tree=o.output_tree,
            finished_at=now(),
            process=None,
        )
    )
    # Move the datum between counters: one that failed before (a retried pod, a
    # resumed job) is no longer counted as failed.
    delta = {"success": 0, "failed": 0}
    delta["success" if o.ok else "failed"] += 1
    if before in delta:
        delta[before] -= 1
    s.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            datums_processed=Job.datums_processed + delta["success"],
            datums_failed=Job.datums_failed + delta["failed"],
        )
    )
    if o.output_tree is not None and o.output_pack is not None:
        tree_pages.record(s.connection(), {o.output_tree: o.output_pack})
    if o.ok and o.output_tree is not None and not o.recovered:
        _remember(s, pipeline_id, d, o.output_tree)


def _remember(s: Session, pipeline_id: int, d: Datum, tree: str) -> None:
    exists = s.get(DatumResult, (pipeline_id, d.hash))
    if exists is None:
        s.add(
            DatumResult(
                pipeline_id=pipeline_id, datum_hash=d.hash, output_tree=tree, inputs=json.dumps(d.key)
            )
        )
    else:
        # A datum run again (reprocess) replaces its earlier result: later jobs that skip
        # it must reuse the output now in the output commit, not the one before.
        exists.output_tree = tree
