"""Running one claimed job: datums, skipping, execution, the output commit, provenance.

1. The job's datums are computed from its input commits and recorded (a resumed job
   keeps what it already recorded). Datums whose hash the pipeline has processed
   before are *skipped* and their earlier output reused (unless the job reprocesses).
2. The executor runs the rest; each success is recorded with its output tree, and as a
   datum result of the pipeline, at once: a job killed half-way resumes where it was.
3. When every datum succeeded, the output tree is the union of the datums' output trees;
   with ``egress`` it is copied to its ``s3://`` URL first (a failed copy fails the job);
   then it becomes a commit on the output repo's ``output_branch`` (``main`` by default;
   created when missing) whose id is the job's id (what ``PACH_OUTPUT_COMMIT_ID`` said),
   with provenance edges to every input commit, and the job is marked successful in the
   same transaction that moves the branch. A failed job leaves the output branch unchanged.

``reprocess_spec: every_job`` makes every job run every datum, as ``--reprocess`` does once.
"""

from __future__ import annotations

import json
import logging
import os
import threading

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from datavc.branches import create_branch
from datavc.commits import abort_commit, edit_commit, finish_commit, start_commit
from datavc.context import Context, now
from datavc.db.cas import cas
from datavc.db.models import Commit, DatumResult, Job, JobState, Pipeline, Repo
from datavc.db.models import Datum as DatumRow
from datavc.errors import (
    AlreadyExists,
    CommitFinished,
    CommitNotFound,
    Conflict,
    DatavcError,
    InvalidArgument,
    JobFailed,
    JobNotFound,
    NotFound,
)
from datavc.pipelines import incremental, orphans
from datavc.pipelines.datums import Commits, Datum, compute_datums
from datavc.pipelines.executors import Executor, Outcome
from datavc.pipelines.recorder import DatumRecorder, mark_done, mark_started
from datavc.pipelines.spec import PipelineSpec
from storage.model import Entry

log = logging.getLogger(__name__)

DATUM_INSERT_BATCH = 5_000  # rows per INSERT executemany when a job records its datums

# A few heartbeats per lease (DATAVC_JOB_LEASE, default 30 s), so a live job is never reclaimed.
HEARTBEAT_SECONDS = min(2.0, float(os.environ.get("DATAVC_JOB_LEASE", "30")) / 4)


class JobLost(Conflict):
    """This scheduler no longer owns the job (its lease expired and another took it over)."""


def _input_commits(ctx: Context, spec: PipelineSpec, inputs: dict[str, str | None]) -> Commits:
    out: Commits = {}
    with ctx.db.read() as s:
        for pfs in spec.inputs():
            cid = inputs.get(pfs.name)
            if cid is None:
                out[pfs.name] = None
                continue
            c = s.get(Commit, cid)
            if c is None:
                raise JobFailed(f"input commit {cid} of {pfs.name!r} no longer exists")
            out[pfs.name] = (pfs.repo, cid, c.tree)
    return out


def _record_datums(
    ctx: Context, job: str, pipeline_id: int, datums: list[Datum], reprocess: bool
) -> set[str]:
    """Insert the job's datum rows (once) and return the hashes still to run."""
    with ctx.db.write() as s:
        existing = {
            h: st
            for h, st in s.execute(select(DatumRow.datum_hash, DatumRow.state).where(DatumRow.job_id == job))
        }
        known: dict[str, str] = {}
        if not reprocess:
            hashes = [d.hash for d in datums if d.hash not in existing]
            for i in range(0, len(hashes), 500):
                batch = hashes[i : i + 500]
                known.update(
                    s.execute(
                        select(DatumResult.datum_hash, DatumResult.output_tree).where(
                            DatumResult.pipeline_id == pipeline_id, DatumResult.datum_hash.in_(batch)
                        )
                    ).all()
                )
        todo: set[str] = set()
        rows: list[dict[str, object]] = []
        for d in datums:
            state = existing.get(d.hash)
            if state is None:
                tree = known.get(d.hash)
                rows.append(
                    {
                        "job_id": job,
                        "datum_hash": d.hash,
                        "key": json.dumps(d.key),
                        "state": "skipped" if tree else "pending",
                        "output_tree": tree,
                    }
                )
                if not tree:
                    todo.add(d.hash)
            elif state in ("pending", "running", "failed"):
                todo.add(d.hash)
        # Core executemany in slices, not one ORM object per datum: a 100,000-datum job
        # spent most of its planning building and flushing ORM objects.
        for i in range(0, len(rows), DATUM_INSERT_BATCH):
            s.execute(insert(DatumRow), rows[i : i + DATUM_INSERT_BATCH])
        # Counters from the rows, so a resumed job adds up: total = processed + skipped +
        # failed once it ends (a datum that failed before and runs again moves from failed
        # to processed in datum_done).
        counts = dict(
            s.execute(
                select(DatumRow.state, func.count()).where(DatumRow.job_id == job).group_by(DatumRow.state)
            ).all()
        )
        s.execute(
            update(Job)
            .where(Job.id == job)
            .values(
                datums_total=len(datums),
                datums_skipped=counts.get("skipped", 0),
                datums_processed=counts.get("success", 0),
                datums_failed=counts.get("failed", 0),
            )
        )
    return todo


def _merge_outputs(ctx: Context, job: str) -> tuple[str, bool]:
    """The union of the job's datum output trees, and whether no two datums wrote one path.

    A path two datums wrote differently fails the job.
    """
    with ctx.db.read() as s:
        rows = s.execute(
            select(DatumRow.datum_hash, DatumRow.output_tree)
            .where(DatumRow.job_id == job)
            .order_by(DatumRow.datum_hash)
        ).all()
    trees = ctx.store.trees
    owner: dict[str, str] = {}
    changes: dict[str, Entry | None] = {}
    written = 0
    for dh, tree in rows:
        if tree is None:
            raise JobFailed(f"datum {dh[:12]} has no output")
        for path, e in trees.walk(tree):
            if path in changes and changes[path] != e:
                raise JobFailed(
                    f"datums {owner[path][:12]} and {dh[:12]} both wrote /{path} with different content"
                )
            changes[path] = e
            owner[path] = dh
            written += 1
    with ctx.store.writer() as w:
        tree = w.update_tree(w.empty_tree(), changes) if changes else w.empty_tree()
    return tree, written == len(changes)


def run_job(ctx: Context, job_id: str, worker: str, executor: Executor) -> str:
    """Run a job this worker has claimed; returns its final state (success or failure)."""
    spec, inputs, pipeline_id, name, reprocess = load_job(ctx, job_id)
    reprocess = reprocess or spec.reprocess_spec == "every_job"
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ctx, job_id, worker, stop), daemon=True)
    beat.start()
    try:
        _abort_stale_output_commits(ctx, name, job_id)
        # From the previous job's datums and the input diff when that is provably the same
        # as planning every datum again (datavc.pipelines.incremental), else in full.
        plan = incremental.plan_job(ctx, job_id, pipeline_id, spec, inputs, reprocess)
        todo = incremental.record_datums(ctx, job_id, pipeline_id, plan) if plan else None
        if plan is None or todo is None:
            plan = None
            datums = job_datums(ctx, spec, inputs)
            todo = _record_datums(ctx, job_id, pipeline_id, datums, reprocess)
        else:
            datums = plan.touched
        pending = [d for d in datums if d.hash in todo]
        recorder = DatumRecorder(ctx, job_id, pipeline_id)

        def started(d: Datum, process: str | None = None) -> None:
            orphans.ensure_running(ctx, job_id)  # a stopped job starts no more datums
            recorder.started(d, process)

        try:
            executor.run(ctx, spec, job_id, pending, started, recorder.done)
        finally:
            recorder.close()
        with ctx.db.read() as s:
            failed = s.scalars(
                select(DatumRow.datum_hash).where(
                    DatumRow.job_id == job_id, DatumRow.state.not_in(("success", "skipped"))
                )
            ).all()
        if failed:
            raise JobFailed(f"{len(failed)} datum(s) failed, e.g. {failed[0][:12]} (see job logs)")
        edited = incremental.merge_outputs(ctx, job_id, plan) if plan else None
        tree, disjoint = (edited, True) if edited else _merge_outputs(ctx, job_id)
        if spec.egress is not None:
            from datavc.pipelines.egress import egress

            egress(ctx, tree, spec.egress)
        _commit_output(
            ctx,
            name,
            spec.output_branch,
            job_id,
            pipeline_id,
            tree,
            [c for c in inputs.values() if c],
            worker,
            disjoint=disjoint,
        )
        return "success"
    except JobLost:
        return "lost"  # another scheduler owns it now and will finish it
    except orphans.JobStopped:
        orphans.clean_up_job(ctx, job_id, remove_scratch=False)
        return "killed"  # 'datavc job stop' ended it; nothing is committed
    except (JobFailed, InvalidArgument, Conflict, NotFound) as err:
        # The job's own fault (a datum failed, its outputs clash, a bad output path), or its
        # output repo was deleted (with --force) while it ran.
        try:
            _finish_job(ctx, job_id, pipeline_id, "failure", str(err), worker)
        except JobLost:
            return "lost"
        return "failure"
    # Integrity and BackendUnavailable (corrupt or missing stored data, a backend down) are
    # not the job's fault: they propagate and stop the scheduler with their exit code (6, 7);
    # the job stays claimed until its lease expires, then resumes where it was.
    finally:
        stop.set()
        beat.join(timeout=5)


def datum_started(ctx: Context, job_id: str, d: Datum) -> None:
    """Record that a datum started (from a scheduler thread or a worker pod).

    A datum that failed before (a resumed job, a retried pod) is no longer counted as
    failed while it runs again: the job's counters keep adding up.
    """
    with ctx.db.write() as s:
        mark_started(s, job_id, d)


def datum_done(
    ctx: Context, job_id: str, pipeline_id: int, d: Datum, o: Outcome, *, accumulate_tries: bool = False
) -> None:
    """Record how a datum ended; a success is also remembered as a datum result of the pipeline.

    ``accumulate_tries`` adds ``o.tries`` to the tries already recorded (Kubernetes retries
    a datum by running its pod again).
    """
    with ctx.db.write() as s:
        mark_done(s, job_id, pipeline_id, d, o, accumulate_tries=accumulate_tries)


def load_job(ctx: Context, job_id: str) -> tuple[PipelineSpec, dict[str, str | None], int, str, bool]:
    """A job's spec, input commits, pipeline id, pipeline name and reprocess flag."""
    with ctx.db.read() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise JobNotFound(job_id)
        pipeline = s.get(Pipeline, job.pipeline_id)
        assert pipeline is not None
        spec = PipelineSpec.parse(job.spec, fmt="json")
        return spec, json.loads(job.inputs), pipeline.id, pipeline.name, job.reprocess


def job_datums(ctx: Context, spec: PipelineSpec, inputs: dict[str, str | None]) -> list[Datum]:
    """Every datum of a job (computed again from its input commits: deterministic)."""
    commits = _input_commits(ctx, spec, inputs)
    return compute_datums(ctx.store.trees, spec, commits)


def _commit_output(
    ctx: Context,
    repo: str,
    branch: str,
    job_id: str,
    pipeline_id: int,
    tree: str,
    inputs: list[str],
    worker: str,
    *,
    disjoint: bool = False,
) -> None:
    if branch != "main":
        try:
            create_branch(ctx, repo, branch)
        except AlreadyExists:
            pass  # output_branch exists from an earlier job: the commit goes on top of it
    with ctx.db.read() as s:
        commit_set = s.scalar(select(Job.commit_set_id).where(Job.id == job_id))
    c = start_commit(
        ctx,
        repo,
        branch,
        message=f"output of job {job_id[:12]}",
        origin="pipeline",
        job_id=job_id,
        commit_id=job_id,
        commit_set=commit_set,
    )
    try:
        edit_commit(ctx, repo, c.id, lambda w, old: tree)

        def mark(s: Session, commit_id: str) -> None:
            _mark_finished(s, job_id, pipeline_id, "success", "", commit_id, worker, disjoint=disjoint)

        finish_commit(ctx, repo, c.id, mode="exact", provenance=sorted(set(inputs)), on_finish=mark)
    except BaseException:
        try:
            abort_commit(ctx, repo, c.id)
        except (CommitNotFound, CommitFinished):
            pass
        raise


def _mark_finished(
    s: Session,
    job_id: str,
    pipeline_id: int,
    state: JobState,
    message: str,
    output: str | None,
    worker: str,
    *,
    disjoint: bool = False,
) -> None:
    moved = cas(
        s,
        update(Job)
        .where(Job.id == job_id, Job.state == "running", Job.worker == worker)
        .values(
            state=state,
            finished_at=now(),
            message=message,
            output_commit_id=output,
            outputs_disjoint=disjoint,
        ),
    )
    if not moved:
        raise JobLost(f"job {job_id} is no longer running here (it was reclaimed or killed)")
    s.execute(
        update(Pipeline)
        .where(Pipeline.id == pipeline_id, Pipeline.running_job == job_id)
        .values(running_job=None)
    )


def _finish_job(
    ctx: Context, job_id: str, pipeline_id: int, state: JobState, message: str, worker: str
) -> None:
    with ctx.db.write() as s:
        _mark_finished(s, job_id, pipeline_id, state, message, None, worker)


def _abort_stale_output_commits(ctx: Context, repo: str, job_id: str) -> None:
    """Drop open output commits an earlier (killed) run of this job left behind."""
    with ctx.db.read() as s:
        stale = s.scalars(
            select(Commit.id)
            .join(Repo, Repo.id == Commit.repo_id)
            .where(Repo.name == repo, Commit.job_id == job_id, Commit.state == "open")
        ).all()
    for cid in stale:
        try:
            abort_commit(ctx, repo, cid)
        except (CommitNotFound, CommitFinished):
            pass


def _heartbeat(ctx: Context, job_id: str, worker: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            with ctx.db.write() as s:
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.worker == worker, Job.state == "running")
                    .values(heartbeat_at=now())
                )
                stopped = s.scalar(select(Job.state).where(Job.id == job_id)) == "killed"
            if stopped:  # 'datavc job stop' from another host: kill its datums running here
                orphans.clean_up_job(ctx, job_id, remove_scratch=False)
        except (DatavcError, SQLAlchemyError) as err:
            # One missed beat is harmless (the lease is several beats long); keep beating.
            log.warning("heartbeat of job %s failed: %s", job_id, err)
