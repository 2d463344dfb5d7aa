"""Durable triggers: a head move on a branch a pipeline reads creates its job in the same transaction.

Nothing is lost when no scheduler runs, and nothing runs twice: the job row is the
trigger, written atomically with the branch move that caused it.

Every job belongs to a *commit set*: the set of the head move that triggered it (a user
commit starts one, with the commit's own id; a pipeline's output commit continues the
set of the job that made it). A pipeline has at most one waiting job per set, so a
diamond (``montage`` reading ``images`` and ``edges``, itself derived from ``images``)
runs once per set; the scheduler resolves that job's inputs to the set's commits when it
claims it (``datavc.pipelines.commit_sets``). This module sits
beside the metadata (it only reads and writes rows), below the services that move
heads (``heads.py``) and below the pipeline service that creates jobs on demand.
"""

from __future__ import annotations

import json
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session

from datavc.db.models import Branch, CommitSet, Job, Pipeline, PipelineInput, utcnow


def input_heads(s: Session, pipeline_id: int) -> dict[str, str | None]:
    """The current head of every input of a pipeline, by input name (None: no commit yet)."""
    rows = s.execute(
        select(PipelineInput.name, Branch.head_id)
        .join(
            Branch,
            (Branch.repo_id == PipelineInput.repo_id) & (Branch.name == PipelineInput.branch),
            isouter=True,
        )
        .where(PipelineInput.pipeline_id == pipeline_id)
    ).all()
    return {name: head for name, head in rows}


def start_commit_set(s: Session, set_id: str | None, origin: str, who: str) -> str:
    """Record a new commit set (``set_id`` None: a fresh id) unless it exists; returns its id."""
    set_id = set_id or uuid4().hex
    if s.get(CommitSet, set_id) is None:
        s.add(CommitSet(id=set_id, origin=origin, created_by=who, created_at=utcnow()))
        s.flush()
    return set_id


def create_job(
    s: Session,
    pipeline: Pipeline,
    trigger: str | None,
    *,
    reprocess: bool = False,
    commit_set: str | None = None,
    who: str = "datavc",
) -> str | None:
    """Record a job over the current input heads; None when no input has a commit yet.

    ``commit_set`` None (a pipeline created, updated or restarted) starts a new set.
    """
    heads = input_heads(s, pipeline.id)
    if not any(heads.values()):
        return None
    if commit_set is None:
        commit_set = start_commit_set(s, None, f"pipeline {pipeline.name} version {pipeline.version}", who)
    job = Job(
        id=uuid4().hex,
        pipeline_id=pipeline.id,
        pipeline_version=pipeline.version,
        spec=pipeline.spec,
        state="created",
        trigger_commit_id=trigger,
        inputs=json.dumps(heads, sort_keys=True),
        reprocess=reprocess,
        created_at=utcnow(),
        commit_set_id=commit_set,
    )
    s.add(job)
    s.flush()
    return job.id


def on_commit_finished(s: Session, repo_id: int, branch: str, commit_id: str, commit_set: str) -> list[str]:
    """Called inside the transaction that moves ``branch`` to ``commit_id``: one job per pipeline.

    A pipeline that already has a job of ``commit_set`` waiting (it reads another repo of
    the set too) gets no second one: that job will read this commit when it is claimed.
    """
    pipelines = s.scalars(
        select(Pipeline)
        .join(PipelineInput, PipelineInput.pipeline_id == Pipeline.id)
        .where(PipelineInput.repo_id == repo_id, PipelineInput.branch == branch, Pipeline.state == "running")
        .distinct()
    ).all()
    jobs = []
    for p in pipelines:
        waiting = s.scalars(
            select(Job.id)
            .where(Job.pipeline_id == p.id, Job.commit_set_id == commit_set, Job.state == "created")
            .limit(1)
        ).first()
        if waiting is not None:
            continue
        job = create_job(s, p, commit_id, commit_set=commit_set)
        if job is not None:
            jobs.append(job)
    return jobs
