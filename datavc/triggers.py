"""Durable triggers: a head move on a branch a pipeline reads creates its job in the same transaction.

Nothing is lost when no scheduler runs, and nothing runs twice: the job row is the
trigger, written atomically with the branch move that caused it. This module sits
beside the metadata (it only reads and writes rows), below the services that move
heads (``heads.py``) and below the pipeline service that creates jobs on demand.
"""

from __future__ import annotations

import json
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session

from datavc.db.models import Branch, Job, Pipeline, PipelineInput, utcnow


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


def create_job(s: Session, pipeline: Pipeline, trigger: str | None, *, reprocess: bool = False) -> str | None:
    """Record a job over the current input heads; None when no input has a commit yet."""
    heads = input_heads(s, pipeline.id)
    if not any(heads.values()):
        return None
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
    )
    s.add(job)
    s.flush()
    return job.id


def on_commit_finished(s: Session, repo_id: int, branch: str, commit_id: str) -> list[str]:
    """Called inside the transaction that moves ``branch`` to ``commit_id``: one job per pipeline."""
    pipelines = s.scalars(
        select(Pipeline)
        .join(PipelineInput, PipelineInput.pipeline_id == Pipeline.id)
        .where(PipelineInput.repo_id == repo_id, PipelineInput.branch == branch, Pipeline.state == "running")
        .distinct()
    ).all()
    jobs = []
    for p in pipelines:
        job = create_job(s, p, commit_id)
        if job is not None:
            jobs.append(job)
    return jobs
