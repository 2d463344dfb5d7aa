"""What a worker pod asks of the server (``/api/v1/jobs/{job}/work...``), with its job token.

Why: worker pods hold no database or bucket credentials (docs/security.md). A pod learns
its shard's datums here, reads their inputs through the ordinary file routes (its token
may read each input repo at the job's input commit only, ``datavc.pipelines.job_tokens``), uploads
each datum's outputs as a batch stream, and reports how the datum ended. Every route
needs the token of the path's job (``REQUIRE.job``): no user, not even an admin, and no
other job's token may call them.

The server, never the pod, names stored objects: an output upload is chunked and hashed
here and its tree recorded on the datum's row; ``done`` takes no tree id from the pod, so
a compromised pod cannot splice another repo's data into its output commit.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, cast

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from datavc.client import Client
from datavc.db.models import Datum as DatumRow
from datavc.errors import Conflict, InvalidArgument, NotFound
from datavc.server import bodies
from datavc.server.auth import REQUIRE, BaseClient
from datavc.server.work_plans import WorkPlans

router = APIRouter(prefix="/api/v1/jobs/{job}/work", tags=["workers"])

DONE = ("success", "skipped")


@dataclass(frozen=True, slots=True)
class _Recorded:
    """A datum as its row records it: the hash and key that ``mark_started``/``mark_done`` use
    (so reporting one datum does not recompute every datum of the job)."""

    hash: str
    key: list[list[str]]


def _row(base: Client, job: str, datum: str) -> DatumRow:
    with base.context.db.read() as s:
        row = s.scalars(
            select(DatumRow).where(DatumRow.job_id == job, DatumRow.datum_hash == datum)
        ).one_or_none()
        if row is None:
            raise NotFound(f"job {job} has no datum {datum!r}")
        s.expunge(row)
        return row


def _datum_json(d: Any) -> dict[str, Any]:
    return {
        "hash": d.hash,
        "files": [
            {
                "input": f.input,
                "repo": f.repo,
                "commit": f.commit,
                "path": f.path,
                "entry": [f.entry.name, f.entry.kind, f.entry.size, f.entry.hash, f.entry.count],
                "groups": list(f.groups),
                "mount": f.mount,
            }
            for f in d.files
        ],
    }


def work_plans(request: Request) -> WorkPlans:
    """The app's cache of planned jobs (made on first use)."""
    state = request.app.state
    with _PLANS_LOCK:
        plans = getattr(state, "work_plans", None)
        if plans is None:
            plans = state.work_plans = WorkPlans()
    return cast(WorkPlans, plans)


_PLANS_LOCK = threading.Lock()


@router.get("", dependencies=[REQUIRE.job])
def worker_job(job: str, base: BaseClient, request: Request, shard: int = 0) -> dict[str, Any]:
    """The job's spec and the datums of ``shard`` that have not succeeded yet.

    The job is planned once for all its pods (:mod:`datavc.server.work_plans`)."""
    from datavc.pipelines.runner import load_job

    ctx = base.context
    spec, inputs, _, pipeline, _ = load_job(ctx, job)
    with ctx.db.read() as s:
        mine = {
            h
            for h, state in s.execute(
                select(DatumRow.datum_hash, DatumRow.state).where(
                    DatumRow.job_id == job, DatumRow.shard == shard
                )
            )
            if state not in DONE
        }
    datums = [d for d in work_plans(request).datums(ctx, job, spec, inputs) if d.hash in mine] if mine else []
    return {
        "job": job,
        "pipeline": pipeline,
        "spec": json.loads(spec.canonical_json()),
        "datums": [_datum_json(d) for d in datums],
    }


@router.post("/start", dependencies=[REQUIRE.job])
def worker_start(job: str, datum: str, base: BaseClient) -> dict[str, Any]:
    """The pod starts ``datum``."""
    from datavc.pipelines.datums import Datum
    from datavc.pipelines.recorder import mark_started

    row = _row(base, job, datum)
    if row.state in DONE:
        raise Conflict(f"datum {datum[:12]} of job {job[:12]} is done already")
    with base.context.db.write() as s:
        mark_started(s, job, cast(Datum, _Recorded(datum, [])))
    return {"datum": datum, "state": "running"}


@router.put("/output", dependencies=[REQUIRE.job])
async def worker_output(job: str, datum: str, request: Request, base: BaseClient) -> dict[str, Any]:
    """Store a datum's outputs (a batch stream, :mod:`datavc.batch`); its tree is kept on the
    datum's row for ``done``. A cut or malformed stream is refused and records nothing."""
    from datavc.batch import store_batch

    row = await run_in_threadpool(_row, base, job, datum)
    if row.state in DONE:
        raise Conflict(f"datum {datum[:12]} of job {job[:12]} is done already")
    body = bodies.reader(request.stream())
    entry = await run_in_threadpool(lambda: store_batch(base.context, body, ""))

    def keep() -> None:
        with base.context.db.write() as s:
            s.execute(
                update(DatumRow)
                .where(DatumRow.job_id == job, DatumRow.datum_hash == datum)
                .values(output_tree=entry.hash)
            )

    await run_in_threadpool(keep)
    return {"datum": datum, "files": entry.count}


class DoneBody(BaseModel):
    datum: str
    ok: bool
    tries: int = 1
    exit_code: int | None = None
    logs: str = ""
    duration: float = 0.0


@router.post("/done", dependencies=[REQUIRE.job])
def worker_done(job: str, body: DoneBody, base: BaseClient) -> dict[str, Any]:
    """Record how a datum ended. A success needs its outputs uploaded first (``/output``)."""
    from datavc.pipelines.datums import Datum
    from datavc.pipelines.executors import Outcome
    from datavc.pipelines.recorder import mark_done
    from datavc.pipelines.runner import load_job

    row = _row(base, job, body.datum)
    if row.state in DONE:
        raise Conflict(f"datum {body.datum[:12]} of job {job[:12]} is done already")
    if body.ok and row.output_tree is None:
        raise InvalidArgument(f"datum {body.datum[:12]}: upload its outputs before reporting success")
    if body.tries < 1:
        raise InvalidArgument("tries must be at least 1")
    _, _, pipeline_id, _, _ = load_job(base.context, job)
    outcome = Outcome(
        body.ok,
        body.tries,
        body.exit_code,
        body.logs[-64 * 1024 :],
        max(0.0, body.duration),
        row.output_tree if body.ok else None,
    )
    with base.context.db.write() as s:
        mark_done(
            s,
            job,
            pipeline_id,
            cast(Datum, _Recorded(row.datum_hash, json.loads(row.key))),
            outcome,
            accumulate_tries=True,
        )
    return {"datum": body.datum, "state": "success" if body.ok else "failed"}
