"""``datavc worker --job ID --shard N``: what a Kubernetes pod runs.

The pod gets the database and object store from its environment (a Secret), finds the
datums of its shard that have not succeeded yet, stages each one's inputs under
``/pfs/<input>`` from the object store, runs the transform with ``/pfs/out``, uploads the
outputs and records the datum's result in the database — exactly what the local executor
does, one datum at a time (or, with ``transform.datum_batching``, one transform process
for the whole shard, asking for datums). It exits non-zero when a datum failed, so Kubernetes retries
the pod (``backoffLimitPerIndex``); datums that succeeded are not run again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select

from datavc.context import Context
from datavc.db.models import Datum as DatumRow
from datavc.pipelines import orphans
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome
from datavc.pipelines.executors.local import run_datum
from datavc.pipelines.runner import datum_done, datum_started, job_datums, load_job

PFS_ENV = "DATAVC_PFS_ROOT"


def run_worker(ctx: Context, job_id: str, shard: int, pfs_root: Path | None = None) -> int:
    """Run this shard's unfinished datums; returns the process exit code (0: all succeeded)."""
    spec, inputs, pipeline_id, _, _ = load_job(ctx, job_id)
    with ctx.db.read() as s:
        rows = s.execute(
            select(DatumRow.datum_hash, DatumRow.state).where(
                DatumRow.job_id == job_id, DatumRow.shard == shard
            )
        ).all()
    mine = {h for h, state in rows if state not in ("success", "skipped")}
    if not mine:
        return 0
    # ``{pod}`` in DATAVC_PFS_ROOT: pods sharing one filesystem (tests) each get their own.
    root = pfs_root or Path(os.environ.get(PFS_ENV, "/pfs").replace("{pod}", f"{os.getpid()}"))
    one_try = spec.model_copy(update={"datum_tries": 1})  # Kubernetes retries the pod
    scratch = Path(tempfile.mkdtemp(prefix="datavc-worker-"))
    ok = True
    if spec.transform.datum_batching:
        # One transform process for the whole shard (datavc.pipelines.executors.batched).
        from datavc.pipelines.executors.batched import run_batched

        outcomes: list[bool] = []

        def done(d: Datum, o: Outcome) -> None:
            datum_done(ctx, job_id, pipeline_id, d, o, accumulate_tries=True)
            print(f"datum {d.hash[:12]}: {'success' if o.ok else f'failed (exit {o.exit_code})'}")
            if not o.ok:
                print(o.logs)
            outcomes.append(o.ok)

        try:
            run_batched(
                ctx,
                one_try,
                job_id,
                [d for d in job_datums(ctx, spec, inputs) if d.hash in mine],
                scratch,
                lambda d, process=None: datum_started(ctx, job_id, d),
                done,
                deadline=None,
                sandbox=None,
                pfs_root=root,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return 0 if all(outcomes) else 1
    try:
        for d in job_datums(ctx, spec, inputs):
            if d.hash not in mine:
                continue
            try:
                orphans.ensure_running(ctx, job_id)
            except orphans.JobStopped:
                print(f"job {job_id} was stopped: no more datums")
                return 0  # not a failure: Kubernetes must not retry the pod
            datum_started(ctx, job_id, d)
            # Not recorded for reclaiming: a pod's pids mean nothing to a scheduler elsewhere
            # (Kubernetes ends the pod, and with it every process it started).
            outcome = run_datum(ctx, one_try, job_id, d, scratch, pfs_root=root, record=False)
            datum_done(ctx, job_id, pipeline_id, d, outcome, accumulate_tries=True)
            print(f"datum {d.hash[:12]}: {'success' if outcome.ok else f'failed (exit {outcome.exit_code})'}")
            if not outcome.ok:
                print(outcome.logs)
            ok = ok and outcome.ok
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1
