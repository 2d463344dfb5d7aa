"""Pipelines: create, update, list, inspect, delete, stop, start; their jobs and datums."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from datavc.context import Context, now
from datavc.db.models import Datum, Job, Pipeline, PipelineInput, PipelineState, Repo
from datavc.errors import (
    AlreadyExists,
    InvalidArgument,
    JobNotFound,
    NotFound,
    PipelineNotFound,
    RepoNotFound,
)
from datavc.info import DatumInfo, JobInfo, PipelineInfo
from datavc.pipelines.spec import PipelineSpec
from datavc.repos import create_repo, get_repo
from datavc.triggers import create_job, input_heads


def get_pipeline(s: Session, name: str) -> Pipeline:
    p = s.scalars(select(Pipeline).where(Pipeline.name == name)).one_or_none()
    if p is None:
        raise PipelineNotFound(name)
    return p


def _info(s: Session, p: Pipeline) -> PipelineInfo:
    inputs = tuple(
        f"{repo}@{branch}"
        for repo, branch in s.execute(
            select(Repo.name, PipelineInput.branch)
            .join(Repo, Repo.id == PipelineInput.repo_id)
            .where(PipelineInput.pipeline_id == p.id)
            .order_by(PipelineInput.name)
        ).all()
    )
    last = s.execute(
        select(Job.id, Job.state).where(Job.pipeline_id == p.id).order_by(Job.created_at.desc()).limit(1)
    ).first()
    return PipelineInfo(
        p.name,
        p.description,
        p.version,
        p.state,
        json.loads(p.spec),
        p.spec_hash,
        inputs,
        p.name,
        p.created_at,
        p.updated_at,
        last[0] if last else None,
        last[1] if last else None,
        p.reason,
    )


def _check_inputs(s: Session, spec: PipelineSpec, name: str) -> list[tuple[str, int, str, str | None]]:
    """(input name, repo id, branch, trigger JSON) of every input; refuses unknown repos and cycles."""
    out = []
    for pfs in spec.inputs():
        if pfs.repo == name:
            raise InvalidArgument(f"pipeline {name!r} cannot read its own output repo")
        try:
            repo = get_repo(s, pfs.repo)
        except RepoNotFound:
            raise RepoNotFound(
                pfs.repo, f"pipeline {name!r}: input repo {pfs.repo!r} does not exist"
            ) from None
        trigger = pfs.trigger.model_dump_json() if pfs.trigger is not None else None
        out.append((pfs.name, repo.id, pfs.branch, trigger))
    # A cycle: some input repo is (transitively) derived from this pipeline's output.
    downstream = _downstream_pipelines(s, name)
    for pfs in spec.inputs():
        if pfs.repo in downstream:
            raise InvalidArgument(
                f"pipeline {name!r} would make a cycle: its input {pfs.repo!r} is derived from its output"
            )
    return out


def _downstream_pipelines(s: Session, repo: str) -> set[str]:
    """Names of the pipelines (= output repos) that read ``repo``, transitively."""
    seen: set[str] = set()
    frontier = [repo]
    while frontier:
        r = frontier.pop()
        readers = s.scalars(
            select(Pipeline.name)
            .join(PipelineInput, PipelineInput.pipeline_id == Pipeline.id)
            .join(Repo, Repo.id == PipelineInput.repo_id)
            .where(Repo.name == r)
        ).all()
        for name in readers:
            if name not in seen:
                seen.add(name)
                frontier.append(name)
    return seen


def _output_repo_taken(s: Session, name: str) -> bool:
    """True when a repo called ``name`` exists and is not a pipeline ``name``'s output (a user's repo).

    Returns False when there is no such repo (it is to be created) or when it is the output
    of an earlier pipeline of this name (recreating a deleted pipeline reuses its output).
    """
    owner = s.execute(select(Repo.id, Repo.output_of).where(Repo.name == name)).first()
    return owner is not None and owner[1] != name


def _ensure_output_repo(ctx: Context, name: str) -> None:
    """Create pipeline ``name``'s output repo if missing; refuse to take over a user's repo.

    Raises:
        AlreadyExists: a repo of that name exists and was not created for this pipeline.
    """
    with ctx.db.read() as s:
        has_repo = s.scalars(select(Repo.id).where(Repo.name == name)).first() is not None
    if not has_repo:
        try:
            create_repo(ctx, name, f"output of pipeline {name}", output_of=name)
        except AlreadyExists:
            pass
    with ctx.db.read() as s:
        if _output_repo_taken(s, name):
            raise AlreadyExists(
                f"repo {name!r} already exists and is not a pipeline's output: a pipeline writes to "
                f"the repo named after it, so name the pipeline differently (or delete the repo)"
            )


def _ensure_tick_repos(ctx: Context, spec: PipelineSpec) -> None:
    """Create the repo of each cron input (``<pipeline>_<name>`` unless the spec names one)."""
    for pfs in spec.inputs():
        if pfs.cron is None:
            continue
        with ctx.db.read() as s:
            exists = s.scalars(select(Repo.id).where(Repo.name == pfs.repo)).first() is not None
        if not exists:
            try:
                create_repo(ctx, pfs.repo, f"ticks of cron input {pfs.name} of pipeline {spec.name}")
            except AlreadyExists:
                pass


def create_pipeline(ctx: Context, spec: PipelineSpec) -> PipelineInfo:
    """Register a pipeline, create its output repo, and queue a job over its inputs' current heads.

    Raises:
        AlreadyExists: the pipeline exists, or a user's repo has its name (a pipeline
            never takes over a repo it did not create).
    """
    name = spec.name
    _ensure_tick_repos(ctx, spec)
    with ctx.db.read() as s:
        if s.scalars(select(Pipeline.id).where(Pipeline.name == name)).first() is not None:
            raise AlreadyExists(f"pipeline {name!r} already exists (use 'pipeline update')")
        _check_inputs(s, spec, name)
    _ensure_output_repo(ctx, name)
    with ctx.db.write() as s:
        if s.scalars(select(Pipeline.id).where(Pipeline.name == name)).first() is not None:
            raise AlreadyExists(f"pipeline {name!r} already exists (use 'pipeline update')")
        inputs = _check_inputs(s, spec, name)
        if _output_repo_taken(s, name):  # a user created the repo meanwhile
            raise AlreadyExists(f"repo {name!r} already exists and is not a pipeline's output")
        t = now()
        p = Pipeline(
            name=name,
            description=spec.pipeline.description or "",
            spec=spec.canonical_json(),
            spec_hash=spec.spec_hash,
            version=1,
            state="running",
            created_at=t,
            updated_at=t,
        )
        s.add(p)
        s.flush()
        for input_name, repo_id, branch, trigger in inputs:
            s.add(
                PipelineInput(
                    pipeline_id=p.id, name=input_name, repo_id=repo_id, branch=branch, trigger=trigger
                )
            )
        s.flush()
        create_job(s, p, None, who=ctx.user)
        return _info(s, p)


def update_pipeline(ctx: Context, spec: PipelineSpec, *, reprocess: bool = False) -> PipelineInfo:
    """Replace a pipeline's spec (a new version) and queue a job; ``reprocess`` runs every datum again."""
    _ensure_tick_repos(ctx, spec)
    with ctx.db.write() as s:
        p = get_pipeline(s, spec.name)
        inputs = _check_inputs(s, spec, spec.name)
        changed = p.spec_hash != spec.spec_hash
        if changed:
            p.version += 1
            p.spec = spec.canonical_json()
            p.spec_hash = spec.spec_hash
            p.description = spec.pipeline.description or ""
            p.updated_at = now()
            for old in s.scalars(select(PipelineInput).where(PipelineInput.pipeline_id == p.id)).all():
                s.delete(old)
            s.flush()
            for input_name, repo_id, branch, trigger in inputs:
                s.add(
                    PipelineInput(
                        pipeline_id=p.id, name=input_name, repo_id=repo_id, branch=branch, trigger=trigger
                    )
                )
            s.flush()
        if changed or reprocess:
            # Jobs still waiting with the old spec are superseded: the new job covers the same heads.
            s.execute(
                update(Job)
                .where(Job.pipeline_id == p.id, Job.state == "created")
                .values(state="killed", finished_at=now(), message=f"superseded by version {p.version}")
            )
            create_job(s, p, None, reprocess=reprocess, who=ctx.user)
        return _info(s, p)


def list_pipelines(ctx: Context) -> list[PipelineInfo]:
    with ctx.db.read() as s:
        return [_info(s, p) for p in s.scalars(select(Pipeline).order_by(Pipeline.name)).all()]


def inspect_pipeline(ctx: Context, name: str) -> PipelineInfo:
    with ctx.db.read() as s:
        return _info(s, get_pipeline(s, name))


def delete_pipeline(ctx: Context, name: str) -> None:
    """Delete a pipeline with its jobs and datum records; its output repo and commits stay."""
    with ctx.db.write() as s:
        p = get_pipeline(s, name)
        s.delete(p)


def set_state(ctx: Context, name: str, state: PipelineState) -> PipelineInfo:
    """``stopped``: no new jobs are triggered or claimed; ``running``: again, and pending jobs run.

    Starting rebuilds the pipeline's inputs from its spec (a forced repo delete stopped it
    and dropped them), recreates its output repo if it was deleted, and clears the reason.

    Raises:
        RepoNotFound: starting while an input repo does not exist (again).
        AlreadyExists: starting while a user's repo holds the output repo's name.
    """
    if state == "running":
        with ctx.db.read() as s:
            get_pipeline(s, name)
        _ensure_output_repo(ctx, name)
    with ctx.db.write() as s:
        p = get_pipeline(s, name)
        was = p.state
        if state == "running":
            spec = PipelineSpec.parse(p.spec, fmt="json")
            inputs = _check_inputs(s, spec, name)
            if _output_repo_taken(s, name):
                raise AlreadyExists(f"repo {name!r} already exists and is not a pipeline's output")
            s.execute(delete(PipelineInput).where(PipelineInput.pipeline_id == p.id))
            for input_name, repo_id, branch, trigger in inputs:
                s.add(
                    PipelineInput(
                        pipeline_id=p.id, name=input_name, repo_id=repo_id, branch=branch, trigger=trigger
                    )
                )
            s.flush()
        # A repo it uses was deleted: a new job over the current heads, even the same ones
        # (a recreated output repo is empty; known datums are skipped and their outputs reused).
        repo_deleted = bool(p.reason) and state == "running"
        if state == "running":
            p.reason = ""
        p.state = state
        p.updated_at = now()
        if was == "stopped" and state == "running":
            # Commits finished while it was stopped triggered nothing: catch up on the current heads.
            last = s.scalars(
                select(Job.inputs).where(Job.pipeline_id == p.id).order_by(Job.created_at.desc()).limit(1)
            ).first()
            if repo_deleted or last is None or json.loads(last) != input_heads(s, p.id):
                create_job(s, p, None, who=ctx.user)
        return _info(s, p)


# ----- jobs and datums -------------------------------------------------------------------


def _job_info(s: Session, j: Job, pipeline: str | None = None) -> JobInfo:
    if pipeline is None:
        pipeline = s.scalar(select(Pipeline.name).where(Pipeline.id == j.pipeline_id)) or "?"
    return JobInfo(
        j.id,
        pipeline,
        j.pipeline_version,
        j.state,
        j.trigger_commit_id,
        json.loads(j.inputs),
        j.output_commit_id,
        j.created_at,
        j.started_at,
        j.finished_at,
        j.worker,
        j.message,
        j.datums_total,
        j.datums_processed,
        j.datums_skipped,
        j.datums_failed,
        j.commit_set_id,
    )


def get_job(s: Session, job_id: str) -> Job:
    if len(job_id) < 6:
        raise InvalidArgument(f"job id {job_id!r} is too short: give at least 6 characters")
    found = s.scalars(select(Job).where(Job.id >= job_id, Job.id < job_id + "g").limit(2)).all()
    if len(found) > 1:
        raise InvalidArgument(f"job id prefix {job_id!r} is ambiguous")
    if not found:
        raise JobNotFound(job_id)
    return found[0]


def list_jobs(ctx: Context, pipeline: str | None = None, limit: int | None = None) -> list[JobInfo]:
    with ctx.db.read() as s:
        q = select(Job, Pipeline.name).join(Pipeline, Pipeline.id == Job.pipeline_id)
        if pipeline is not None:
            q = q.where(Pipeline.id == get_pipeline(s, pipeline).id)
        q = q.order_by(Job.created_at.desc(), Job.id)
        if limit:
            q = q.limit(limit)
        return [_job_info(s, j, name) for j, name in s.execute(q).all()]


def inspect_job(ctx: Context, job_id: str) -> JobInfo:
    with ctx.db.read() as s:
        return _job_info(s, get_job(s, job_id))


def list_datums(ctx: Context, job_id: str) -> Iterator[DatumInfo]:
    with ctx.db.read() as s:
        job = get_job(s, job_id)
        rows = s.scalars(select(Datum).where(Datum.job_id == job.id).order_by(Datum.id)).all()
        infos = [
            DatumInfo(
                job.id,
                d.datum_hash,
                tuple(tuple(x) for x in json.loads(d.key)),
                d.state,
                d.tries,
                d.exit_code,
                d.duration,
                d.output_tree,
            )
            for d in rows
        ]
    return iter(infos)


def job_logs(ctx: Context, job_id: str, datum: str | None = None) -> Iterator[tuple[str, str]]:
    """(datum id, logs of its last try) for the job's datums that ran (or the one ``datum`` prefix)."""
    with ctx.db.read() as s:
        job = get_job(s, job_id)
        q = select(Datum.datum_hash, Datum.logs).where(Datum.job_id == job.id, Datum.tries > 0)
        if datum is not None:
            q = q.where(Datum.datum_hash >= datum, Datum.datum_hash < datum + "g")
        rows = s.execute(q.order_by(Datum.id)).all()
        if datum is not None and not rows:
            raise NotFound(f"datum {datum} not found in job {job.id} (or it never ran)")
    return iter([(h, logs) for h, logs in rows])


def wait_job(ctx: Context, job_id: str, *, timeout: float | None = None, poll: float = 0.2) -> JobInfo:
    """Block until the job is done (success, failure or killed)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        info = inspect_job(ctx, job_id)
        if info.done:
            return info
        if deadline is not None and time.monotonic() > deadline:
            from datavc.errors import Conflict

            raise Conflict(f"job {info.id} is still {info.state} after {timeout}s")
        time.sleep(poll)


def jobs_for_commit(s: Session, commit_id: str) -> list[Job]:
    """Jobs that read ``commit_id`` (their input JSON names it)."""
    return list(s.scalars(select(Job).where(Job.inputs.contains(f'"{commit_id}"'))).all())


def wait_commit(
    ctx: Context, repo: str, branch: str, *, timeout: float | None = None, poll: float = 0.2
) -> list[JobInfo]:
    """Block until every job triggered by ``repo@branch``'s head, transitively downstream, is done."""
    from datavc.refs import resolve

    with ctx.db.read() as s:
        head = resolve(s, get_repo(s, repo), branch).id
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done: dict[str, JobInfo] = {}
        pending = False
        frontier = [head]
        seen_commits: set[str] = set()
        with ctx.db.read() as s:
            while frontier:
                c = frontier.pop()
                if c in seen_commits:
                    continue
                seen_commits.add(c)
                for j in jobs_for_commit(s, c):
                    info = _job_info(s, j)
                    done[j.id] = info
                    if not info.done:
                        pending = True
                    elif info.output_commit:
                        frontier.append(info.output_commit)
                # Pipelines reading this commit's branch whose job has not been created yet
                # cannot exist: jobs are created in the transaction that finishes the commit.
        if not pending:
            return sorted(done.values(), key=lambda j: j.created_at)
        if deadline is not None and time.monotonic() > deadline:
            from datavc.errors import Conflict

            raise Conflict(f"jobs downstream of {repo}@{branch} are still running after {timeout}s")
        time.sleep(poll)
