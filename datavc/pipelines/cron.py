"""Cron inputs and timed branch triggers: commits made on a schedule, by whoever schedules jobs.

A cron input (``input.cron``: name, spec, repo, start, overwrite) reads a *tick repo*
(``<pipeline>_<name>`` by default). When a tick of its schedule is due, :func:`tick`
commits one empty file named after the tick time (RFC 3339, UTC, as Pachyderm does) to
the repo's ``main``; with ``overwrite`` the previous tick files are removed in the same
commit. The commit starts a commit set like a user's commit and triggers the pipeline.
Ticks missed while nothing ran are not replayed: one commit, for the latest due tick.

Who ticks: ``datavc daemon`` on every poll, and ``datavc run`` and the commands that run
jobs inline (``pipelines.run: inline``) when they run. Two schedulers never commit the
same tick: the tick is claimed first by a compare-and-swap on ``pipeline_cron.last_tick``.

A branch trigger with a ``cron_spec`` (``datavc.branch_triggers``) whose tick passed
while no commit arrived is fired here too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from datavc.branch_triggers import holds, parse_trigger
from datavc.branches import create_branch, reset_branch
from datavc.commits import abort_commit, edit_commit, finish_commit, start_commit
from datavc.context import Context, now
from datavc.db.cas import cas
from datavc.db.models import Branch, Pipeline, PipelineCron, PipelineInput, Repo
from datavc.errors import BranchMoved, BranchNotFound, CommitFinished, CommitNotFound, NotFound
from datavc.pipelines.spec import CronTick, PipelineSpec
from datavc.schedule import next_tick
from storage.writer import Writer

MAX_CATCH_UP = 100_000  # schedule steps walked to find the latest due tick


def tick_name(at: datetime) -> str:
    """``2026-11-30T23:00:00Z``: Pachyderm's tick file name."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _latest_due(spec: str, base: datetime, t: datetime) -> datetime | None:
    due = next_tick(spec, base)
    if due > t:
        return None
    for _ in range(MAX_CATCH_UP):
        nxt = next_tick(spec, due)
        if nxt > t:
            break
        due = nxt
    return due


def _claim(s: Session, pipeline_id: int, name: str, last: datetime | None, new: datetime) -> bool:
    row = s.get(PipelineCron, (pipeline_id, name))
    if row is None:
        s.add(PipelineCron(pipeline_id=pipeline_id, name=name, last_tick=new))
        s.flush()
        return True
    cond = PipelineCron.last_tick.is_(None) if last is None else PipelineCron.last_tick == last
    return cas(
        s,
        update(PipelineCron)
        .where(PipelineCron.pipeline_id == pipeline_id, PipelineCron.name == name, cond)
        .values(last_tick=new),
    )


def _commit_tick(ctx: Context, repo: str, at: datetime, cron: CronTick) -> str:
    name = tick_name(at)
    c = start_commit(ctx, repo, "main", message=f"cron tick {name}")
    try:
        with ctx.store.writer() as w:
            entry = w.put_bytes(b"", name)

        def edit(w: Writer, old: str) -> str:
            return w.update_tree(w.empty_tree() if cron.overwrite else old, {name: entry})

        edit_commit(ctx, repo, c.id, edit)
        finish_commit(ctx, repo, c.id)
    except BaseException:
        try:
            abort_commit(ctx, repo, c.id)
        except (CommitNotFound, CommitFinished):
            pass
        raise
    return c.id


def tick(ctx: Context) -> list[str]:
    """Commit every due tick of running pipelines' cron inputs; fire due timed triggers.

    Returns the ids of the commits made.
    """
    t = now()
    made: list[str] = []
    with ctx.db.read() as s:
        pipelines = s.execute(
            select(Pipeline.id, Pipeline.spec, Pipeline.created_at).where(
                Pipeline.state == "running", Pipeline.spec.contains('"cron":{')
            )
        ).all()
        last = {(r.pipeline_id, r.name): r.last_tick for r in s.scalars(select(PipelineCron)).all()}
    for pid, raw, created in pipelines:
        spec = PipelineSpec.parse(raw, fmt="json")
        for pfs in spec.inputs():
            if pfs.cron is None:
                continue
            prev = last.get((pid, pfs.name))
            due = _latest_due(pfs.cron.spec, prev or pfs.cron.start or created, t)
            if due is None:
                continue
            with ctx.db.write() as s:
                if not _claim(s, pid, pfs.name, prev, due):
                    continue  # another scheduler committed this tick
            try:
                made.append(_commit_tick(ctx, pfs.repo, due, pfs.cron))
            except NotFound:
                continue  # the tick repo was deleted: the pipeline is stopped with a reason
    _timed_triggers(ctx)
    return made


def _timed_triggers(ctx: Context) -> None:
    """Move input branches whose trigger has a ``cron_spec`` that came due with no commit."""
    with ctx.db.read() as s:
        rows = s.execute(
            select(
                Repo.name,
                PipelineInput.repo_id,
                PipelineInput.branch,
                PipelineInput.trigger,
                Pipeline.updated_at,
            )
            .join(Pipeline, Pipeline.id == PipelineInput.pipeline_id)
            .join(Repo, Repo.id == PipelineInput.repo_id)
            .where(
                Pipeline.state == "running",
                PipelineInput.trigger.is_not(None),
                PipelineInput.trigger.contains('"cron_spec":"'),
            )
        ).all()
        moves: list[tuple[str, str, str]] = []
        for repo, repo_id, target, raw, since in rows:
            t = parse_trigger(raw)
            if t is None:
                continue
            watched = t.get("branch") or "main"
            head = s.scalar(select(Branch.head_id).where(Branch.repo_id == repo_id, Branch.name == watched))
            old = s.scalar(select(Branch.head_id).where(Branch.repo_id == repo_id, Branch.name == target))
            if head is None or head == old:
                continue
            if holds(s, t, repo_id, target, old, head, since):
                moves.append((repo, target, head))
    for repo, target, head in moves:
        try:
            reset_branch(ctx, repo, target, head, why="trigger: schedule")
        except BranchNotFound:
            create_branch(ctx, repo, target, head)
        except BranchMoved:
            pass  # a commit moved it meanwhile (and fired the trigger itself)
