"""Garbage collection: delete objects nothing reachable uses any more, safely while others write.

Mark and sweep with a grace period:

1. *Mark* every object reachable from every commit's tree — finished and open commits
   alike (and the tree an open commit started from, which a rebase diffs against) —
   plus the empty tree. Roots are read again after marking, so commits finished
   meanwhile are marked too.
2. *Sweep* every stored object that is unmarked **and** older than the grace period.
   Just before deleting, its time is read again.

Why this is safe with concurrent writers: a writer uploads objects first and publishes
a tree that uses them afterwards; objects younger than the grace period are never
deleted, so a writer has ``grace`` to publish. A writer that *reuses* an existing object
instead of uploading it touches it (``Backend.touch``), so an old unreferenced object
that becomes needed again is young again before any tree points at it. The remaining
window (an object touched between the sweep's second look and its delete) is the same
one git's gc accepts; keep the grace period well above the longest write.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from datavc.context import Context
from datavc.db.models import Commit
from datavc.info import GcInfo

DEFAULT_GRACE = timedelta(hours=1)


def _roots(ctx: Context) -> set[str]:
    with ctx.db.read() as s:
        roots = set(s.scalars(select(Commit.tree).distinct()))
        roots |= set(s.scalars(select(Commit.base_tree).where(Commit.state == "open").distinct()))
    roots.add(ctx.empty_tree)
    return roots


def gc(ctx: Context, *, dry_run: bool = False, grace: timedelta = DEFAULT_GRACE) -> GcInfo:
    """Delete unreachable objects older than ``grace`` (only count them with ``dry_run``)."""
    if grace.total_seconds() < 0:
        from datavc.errors import InvalidArgument

        raise InvalidArgument("the grace period cannot be negative")
    cutoff = time.time() - grace.total_seconds()
    reachable: set[str] = set()
    marked: set[str] = set()
    pending = _roots(ctx)
    while pending:
        for root in pending:
            for oid, _ in ctx.store.trees.iter_objects(root, marked):
                reachable.add(oid)
        pending = _roots(ctx) - marked
    total = kept = deleted = freed = 0
    backend = ctx.store.backend
    for oid, mtime, size in backend.iter_stat():
        total += 1
        if oid in reachable:
            continue
        if mtime >= cutoff:
            kept += 1
            continue
        if not dry_run:
            again = backend.mtime(oid)
            if again is None:
                continue
            if again >= cutoff:
                kept += 1
                continue
            backend.delete(oid)
        deleted += 1
        freed += size
    return GcInfo(dry_run, total, total - deleted - kept, deleted, freed, kept)
