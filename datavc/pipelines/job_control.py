"""Job control: stop (kill) a job, restart a job, restart one datum.

- ``stop_job``: a created or running job ends now as ``killed``. No datum of it starts
  again: the scheduler running it notices at its next heartbeat (at most ~2 s) or when a
  datum starts, kills the datums still running (their process trees, on its host), and
  moves on without committing anything. This host's datum processes are killed at once.
  ``kill`` is the same command (pachctl 1.x called it ``kill job``; 2.x ``stop job``).
- ``restart_job``: a new job of the same pipeline version over the same input commits.
  Datums that succeeded before are skipped and their outputs reused, so it runs what
  failed or never ran (a killed job, a flaky datum).
- ``restart_datum``: forget one datum's remembered result, then restart its job: that
  datum runs again even though it succeeded (with a new output if its code is flaky).

The job must have ended to be restarted (stop it first). Each call is one transaction
(``stop_job`` then kills this host's processes of the job).
"""

from __future__ import annotations

from uuid import uuid4

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from datavc.context import Context, now
from datavc.db.models import Datum, DatumResult, Job, Pipeline
from datavc.errors import Conflict, InvalidArgument, NotFound
from datavc.info import JobInfo
from datavc.pipelines import orphans
from datavc.pipelines.pipelines import _job_info, get_job

ENDED = ("success", "failure", "killed")


def stop_job(ctx: Context, job_id: str) -> JobInfo:
    """End a created or running job as ``killed``; a job already killed is returned as it is.

    Raises:
        JobNotFound: no such job.
        Conflict: the job already ended in success or failure.
    """
    with ctx.db.write() as s:
        job = get_job(s, job_id)
        if job.state in ("success", "failure"):
            raise Conflict(f"job {job.id} already ended ({job.state}); nothing to stop")
        if job.state != "killed":
            s.execute(
                update(Job)
                .where(Job.id == job.id, Job.state.in_(("created", "running")))
                .values(state="killed", finished_at=now(), message=f"stopped by {ctx.user}")
            )
            s.execute(
                update(Pipeline)
                .where(Pipeline.id == job.pipeline_id, Pipeline.running_job == job.id)
                .values(running_job=None)
            )
        jid = job.id
    # This host's running datums stop now; other hosts' at their scheduler's next heartbeat.
    orphans.clean_up_job(ctx, jid, remove_scratch=False)
    with ctx.db.read() as s:
        return _job_info(s, get_job(s, jid))


def restart_job(ctx: Context, job_id: str) -> JobInfo:
    """A new job over the same input commits (datums that succeeded are skipped).

    Raises:
        JobNotFound: no such job.
        Conflict: the job has not ended yet ('datavc job stop' it first), or its pipeline
            was updated since (the new version runs on the next commit).
    """
    with ctx.db.write() as s:
        return _again(s, get_job(s, job_id))


def _again(s: Session, job: Job) -> JobInfo:
    """Record a new job like ``job`` (which must have ended)."""
    if job.state not in ENDED:
        raise Conflict(f"job {job.id} is still {job.state}: stop it first ('datavc job stop {job.id}')")
    pipeline = s.get(Pipeline, job.pipeline_id)
    assert pipeline is not None
    new = Job(
        id=uuid4().hex,
        pipeline_id=job.pipeline_id,
        pipeline_version=job.pipeline_version,
        spec=job.spec,
        state="created",
        trigger_commit_id=job.trigger_commit_id,
        inputs=job.inputs,
        reprocess=job.reprocess,
        created_at=now(),
    )
    s.add(new)
    s.flush()
    return _job_info(s, new, pipeline.name)


def restart_datum(ctx: Context, job_id: str, datum: str) -> JobInfo:
    """Run one datum of an ended job again, in a new job (its remembered result is forgotten).

    Args:
        job_id: the job (an id or a prefix of 6+ characters).
        datum: the datum's id or a prefix of it (6+ characters).

    Raises:
        JobNotFound: no such job. NotFound: no such datum in it.
        InvalidArgument: an ambiguous or too short datum prefix.
        Conflict: the job has not ended yet.
    """
    if len(datum) < 6:
        raise InvalidArgument(f"datum id {datum!r} is too short: give at least 6 characters")
    with ctx.db.write() as s:
        job = get_job(s, job_id)
        if job.state not in ENDED:
            raise Conflict(f"job {job.id} is still {job.state}: stop it first ('datavc job stop {job.id}')")
        hashes = s.scalars(
            select(Datum.datum_hash)
            .where(Datum.job_id == job.id, Datum.datum_hash >= datum, Datum.datum_hash < datum + "g")
            .limit(2)
        ).all()
        if not hashes:
            raise NotFound(f"datum {datum} not found in job {job.id}")
        if len(hashes) > 1:
            raise InvalidArgument(f"datum id prefix {datum!r} is ambiguous in job {job.id}")
        s.execute(
            delete(DatumResult).where(
                DatumResult.pipeline_id == job.pipeline_id, DatumResult.datum_hash == hashes[0]
            )
        )
        return _again(s, job)
