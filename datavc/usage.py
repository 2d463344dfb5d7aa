"""Which pipelines use a repo (read it as an input, write it as their output), and what
deleting such a repo does to them.

A pipeline's inputs are rows keyed by repo id, which a repo delete cascades away; left
alone, the pipeline would look "running" and never trigger again, even once a repo of
that name exists again. So a forced delete stops each pipeline using the repo, visibly
(``pipelines.reason``), and kills its waiting jobs; ``pipeline start`` rebuilds the
inputs from the spec once the repo exists again. Light imports only: ``repo delete``
must not load the spec machinery.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from datavc.context import now
from datavc.db.models import Job, Pipeline, PipelineInput, Repo


def users_of_repo(s: Session, repo: Repo) -> list[tuple[str, str]]:
    """(pipeline name, "reads" or "writes") for every pipeline using ``repo``, sorted."""
    out: set[tuple[str, str]] = set()
    readers = s.scalars(
        select(Pipeline.name)
        .join(PipelineInput, PipelineInput.pipeline_id == Pipeline.id)
        .where(PipelineInput.repo_id == repo.id)
    ).all()
    out.update((name, "reads") for name in readers)
    # Every pipeline writes the repo named after it; its spec names its inputs even when a
    # pipeline stopped by an earlier forced delete has no input rows left.
    for name, spec in s.execute(select(Pipeline.name, Pipeline.spec)).all():
        if name == repo.name:
            out.add((name, "writes"))
        elif repo.name in spec_input_repos(spec):
            out.add((name, "reads"))
    return sorted(out)


def spec_input_repos(spec_json: str) -> set[str]:
    """The repos a stored (canonical JSON) spec reads, without validating it again."""
    repos: set[str] = set()
    stack: list[Any] = [json.loads(spec_json).get("input")]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        pfs = node.get("pfs")
        if isinstance(pfs, dict) and isinstance(pfs.get("repo"), str):
            repos.add(pfs["repo"])
        for kind in ("cross", "union", "join", "group"):
            children = node.get(kind)
            if isinstance(children, list):
                stack.extend(children)
    return repos


def stop_for_deleted_repo(s: Session, repo: str, users: list[tuple[str, str]]) -> None:
    """Stop every pipeline in ``users`` because ``repo`` is being deleted; kill their waiting jobs."""
    t = now()
    for name in sorted({p for p, _ in users}):
        how = {h for p, h in users if p == name}
        what = "output" if "writes" in how else "input"
        reason = f"its {what} repo {repo!r} was deleted; recreate it and run 'datavc pipeline start {name}'"
        p = s.scalars(select(Pipeline).where(Pipeline.name == name)).one()
        p.state = "stopped"
        p.reason = reason
        p.updated_at = t
        s.execute(
            update(Job)
            .where(Job.pipeline_id == p.id, Job.state == "created")
            .values(state="killed", finished_at=t, message=reason)
        )
