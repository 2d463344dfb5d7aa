"""Branch triggers (Pachyderm's ``input.pfs.trigger``): when an input branch follows the one it watches.

A pipeline input with a trigger reads its own branch of the repo (``<pipeline>-trigger-1``
by default); commits land on the watched branch (``main`` by default), and the input
branch moves to the watched head only when the trigger's conditions hold: ``commits``
(that many commits since the input branch last moved), ``size`` (the watched branch grew
by that much), ``cron_spec`` (a tick of the schedule passed since then); any one of them,
or ``all`` of them. No condition: every commit. The move happens in the transaction that
moved the watched branch (``datavc.heads``), in the same commit set, so the job it
triggers belongs to the set of the commit that fired it; the cron condition alone is
also checked on schedule (``datavc.pipelines.cron``).

The trigger is read from ``pipeline_inputs.trigger`` (JSON the pipeline service wrote);
a value that does not parse is ignored rather than trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datavc.db.models import Branch, BranchHistory, Commit, Pipeline, PipelineInput, utcnow
from datavc.errors import InvalidArgument
from datavc.schedule import next_tick, parse_size

MAX_WALK = 100_000  # commits walked back to count them (a trigger of more never fires early)


@dataclass(frozen=True)
class Due:
    """An input branch to move to the watched head (``old``: its head now, None if missing)."""

    branch: str
    old: str | None
    exists: bool


def parse_trigger(raw: str | None) -> dict[str, Any] | None:
    """The stored trigger as a dict, or None when it does not parse as one."""
    try:
        t = json.loads(raw) if raw else None
    except ValueError:
        return None
    return t if isinstance(t, dict) else None


def _commits_since(s: Session, head: str, stop: str | None, enough: int) -> int:
    """Commits from ``head`` back (first parents) to ``stop`` (excluded), counting up to ``enough``."""
    n, cur = 0, head
    while cur is not None and cur != stop and n < min(enough, MAX_WALK):
        n += 1
        cur = s.scalar(select(Commit.parent_id).where(Commit.id == cur))
    return n


def _last_move(s: Session, repo_id: int, branch: str, fallback: datetime) -> datetime:
    at = s.scalar(
        select(BranchHistory.at)
        .where(BranchHistory.repo_id == repo_id, BranchHistory.branch == branch)
        .order_by(BranchHistory.id.desc())
        .limit(1)
    )
    return at or fallback


def holds(
    s: Session, t: dict[str, Any], repo_id: int, target: str, old: str | None, head: str, since: datetime
) -> bool:
    """Do the trigger's conditions hold for moving ``target`` from ``old`` to ``head``?"""
    conds: list[bool] = []
    try:
        if isinstance(t.get("commits"), int) and t["commits"] > 0:
            conds.append(_commits_since(s, head, old, t["commits"]) >= t["commits"])
        if isinstance(t.get("size"), str):
            new_size = s.scalar(select(Commit.size).where(Commit.id == head)) or 0
            old_size = (s.scalar(select(Commit.size).where(Commit.id == old)) or 0) if old else 0
            conds.append(new_size - old_size >= parse_size(t["size"]))
        if isinstance(t.get("cron_spec"), str):
            conds.append(next_tick(t["cron_spec"], _last_move(s, repo_id, target, since)) <= utcnow())
    except InvalidArgument:
        return False  # a trigger that no longer parses never fires
    if not conds:
        return True
    return all(conds) if t.get("all") is True else any(conds)


def due(s: Session, repo_id: int, branch: str, head: str) -> list[Due]:
    """Input branches of running pipelines that watch ``repo_id@branch`` and should now move to ``head``."""
    rows = s.execute(
        select(PipelineInput.branch, PipelineInput.trigger, Pipeline.updated_at)
        .join(Pipeline, Pipeline.id == PipelineInput.pipeline_id)
        .where(
            PipelineInput.repo_id == repo_id,
            PipelineInput.trigger.is_not(None),
            Pipeline.state == "running",
        )
    ).all()
    out: dict[str, Due] = {}
    for target, raw, since in rows:
        t = parse_trigger(raw)
        if t is None or (t.get("branch") or "main") != branch or target == branch or target in out:
            continue
        row = s.execute(
            select(Branch.id, Branch.head_id).where(Branch.repo_id == repo_id, Branch.name == target)
        ).first()
        old = row[1] if row else None
        if old == head:
            continue
        if holds(s, t, repo_id, target, old, head, since):
            out[target] = Due(target, old, row is not None)
    return list(out.values())
