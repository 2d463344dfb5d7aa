"""Commit sets: which commits a job of a set reads, when it may run, and what a set holds.

A commit made by a user (or a cron tick, a rollback, a branch reset) starts a commit set;
every job it triggers and every output commit those jobs make belong to it (see
``datavc/triggers.py``). A pipeline whose inputs share an upstream — ``montage`` reads
``images`` and ``edges``, and ``edges`` is derived from ``images`` — has one job per set,
and that job must read ``edges``' commit *of the same set*, not whatever ``edges@main``
holds when the job is created. So the scheduler decides when it claims a job
(:func:`readiness`):

* **wait** while a job of the same set is pending on a running pipeline upstream of it
  (at any depth): that job may still produce one of its inputs;
* **unrunnable** when an upstream job of the set failed or was killed and one of its
  inputs has no commit in the set: running would pair commits from different sets;
* **ready** otherwise, with each input resolved to the branch's head move of the set
  (from the reflog) or, for inputs the set does not touch, the head recorded when the
  job was created.

A job that already started once (a reclaimed job resuming) keeps the inputs it has.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from datavc.context import Context
from datavc.db.models import BranchHistory, Commit, CommitSet, Job, Pipeline, PipelineInput, Repo
from datavc.errors import Conflict, InvalidArgument, NotFound
from datavc.info import CommitSetInfo, CommitSetMember, JobInfo

PENDING = ("created", "running")
_HEX = re.compile(r"[0-9a-f]{6,32}")


class CommitSetNotFound(NotFound):
    """No commit set has this id (or prefix)."""


@dataclass(frozen=True)
class Readiness:
    """What the scheduler may do with a waiting job of a commit set."""

    state: Literal["wait", "ready", "unrunnable"]
    inputs: dict[str, str | None]
    reason: str = ""


def upstream_pipelines(s: Session, pipeline_id: int) -> dict[int, str]:
    """Pipelines whose output (transitively) feeds ``pipeline_id``: {id: name}."""
    seen: dict[int, str] = {}
    frontier = [pipeline_id]
    while frontier:
        pid = frontier.pop()
        rows = s.execute(
            select(Pipeline.id, Pipeline.name)
            .join(Repo, Repo.name == Pipeline.name)
            .join(PipelineInput, PipelineInput.repo_id == Repo.id)
            .where(PipelineInput.pipeline_id == pid)
        ).all()
        for up_id, up_name in rows:
            if up_id not in seen and up_id != pipeline_id:
                seen[up_id] = up_name
                frontier.append(up_id)
    return seen


def set_head(s: Session, commit_set: str, repo_id: int, branch: str) -> str | None:
    """The commit ``repo_id@branch`` moved to within ``commit_set`` (the last such move), if any."""
    return s.scalars(
        select(BranchHistory.new_head)
        .where(
            BranchHistory.commit_set_id == commit_set,
            BranchHistory.repo_id == repo_id,
            BranchHistory.branch == branch,
        )
        .order_by(BranchHistory.id.desc())
        .limit(1)
    ).first()


def readiness(s: Session, job: Job) -> Readiness:
    """May ``job`` (state ``created``) run now, and on which input commits?"""
    recorded: dict[str, str | None] = json.loads(job.inputs)
    if job.commit_set_id is None or job.started_at is not None:
        return Readiness("ready", recorded)
    cs = job.commit_set_id
    upstream = upstream_pipelines(s, job.pipeline_id)
    broken: list[str] = []
    if upstream:
        rows = s.execute(
            select(Job.id, Job.state, Pipeline.name, Pipeline.state)
            .join(Pipeline, Pipeline.id == Job.pipeline_id)
            .where(Job.commit_set_id == cs, Job.pipeline_id.in_(upstream))
        ).all()
        for jid, state, name, pstate in rows:
            if state in PENDING and pstate == "running":
                return Readiness("wait", recorded, f"job {jid} of pipeline {name} is {state}")
            if state in ("failure", "killed"):
                broken.append(
                    f"job {jid} of pipeline {name} {'failed' if state == 'failure' else 'was killed'}"
                )
    inputs = dict(recorded)
    upstream_repos = set(upstream.values())
    for name, repo_id, repo_name, branch in s.execute(
        select(PipelineInput.name, PipelineInput.repo_id, Repo.name, PipelineInput.branch)
        .join(Repo, Repo.id == PipelineInput.repo_id)
        .where(PipelineInput.pipeline_id == job.pipeline_id)
    ).all():
        head = set_head(s, cs, repo_id, branch)
        if head is not None:
            inputs[name] = head
        elif broken and repo_name in upstream_repos:
            return Readiness(
                "unrunnable",
                recorded,
                f"input {name!r} ({repo_name}@{branch}) has no commit in commit set {cs}: "
                + "; ".join(broken),
            )
    return Readiness("ready", inputs)


# ----- the API: inspect and wait ---------------------------------------------------------


def get_commit_set(s: Session, set_id: str) -> CommitSet:
    """A commit set by its id or a unique prefix of 6+ characters."""
    if len(set_id) < 6:
        raise InvalidArgument(f"commit set id {set_id!r} is too short: give at least 6 characters")
    set_id = set_id.lower()
    if not _HEX.fullmatch(set_id):
        raise InvalidArgument(f"commit set id {set_id!r} is not hexadecimal (at most 32 digits)")
    found = s.scalars(
        select(CommitSet).where(CommitSet.id >= set_id, CommitSet.id < set_id + "g").limit(2)
    ).all()
    if len(found) > 1:
        raise InvalidArgument(f"commit set id prefix {set_id!r} is ambiguous")
    if not found:
        raise CommitSetNotFound(f"commit set {set_id} not found")
    return found[0]


def _info(s: Session, cs: CommitSet) -> CommitSetInfo:
    from datavc.pipelines.pipelines import _job_info

    members = tuple(
        CommitSetMember(repo, branch, commit, origin or "?", job)
        for repo, branch, commit, origin, job in s.execute(
            select(Repo.name, BranchHistory.branch, BranchHistory.new_head, Commit.origin, Commit.job_id)
            .join(Repo, Repo.id == BranchHistory.repo_id)
            .join(Commit, Commit.id == BranchHistory.new_head, isouter=True)
            .where(BranchHistory.commit_set_id == cs.id)
            .order_by(BranchHistory.id)
        ).all()
        if commit is not None
    )
    jobs = tuple(
        _job_info(s, j)
        for j in s.scalars(
            select(Job).where(Job.commit_set_id == cs.id).order_by(Job.created_at, Job.id)
        ).all()
    )
    return CommitSetInfo(cs.id, cs.origin, cs.created_by, cs.created_at, members, jobs)


def inspect_commit_set(ctx: Context, set_id: str) -> CommitSetInfo:
    """The set's commits (one per head move it caused) and its jobs with their states.

    Raises:
        CommitSetNotFound: no set has this id.
    """
    with ctx.db.read() as s:
        return _info(s, get_commit_set(s, set_id))


def _pending(s: Session, set_id: str) -> list[JobInfo]:
    from datavc.pipelines.pipelines import _job_info

    rows = s.scalars(
        select(Job)
        .join(Pipeline, Pipeline.id == Job.pipeline_id)
        .where(Job.commit_set_id == set_id, Job.state.in_(PENDING), Pipeline.state == "running")
    ).all()
    return [_job_info(s, j) for j in rows]


def wait_commit_set(
    ctx: Context, set_id: str, *, timeout: float | None = None, poll: float = 0.2
) -> CommitSetInfo:
    """Block until no job of the set is pending on a running pipeline; returns the set.

    Jobs downstream are created in the transaction that finishes their input commit, so
    "nothing pending" means the set is complete.

    Raises:
        CommitSetNotFound: no set has this id.
        Conflict: still running after ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with ctx.db.read() as s:
        full = get_commit_set(s, set_id).id
    while True:
        with ctx.db.read() as s:
            pending = _pending(s, full)
            if not pending:
                return _info(s, get_commit_set(s, full))
        if deadline is not None and time.monotonic() > deadline:
            names = ", ".join(sorted({j.pipeline for j in pending}))
            raise Conflict(f"commit set {full} still has pending jobs ({names}) after {timeout}s")
        time.sleep(poll)
