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
one git's gc accepts.

The grace period must outlast any write still to be published: a writer can publish only
while its open commit is younger than the store's ``open_commit_max_age`` (see
:mod:`datavc.open_commits`), so a grace below that is refused unless ``force`` (meant for
a store nobody writes to at the moment). gc also aborts expired open commits first, so
the objects of an abandoned ``put`` can go; and it checks, right before sweeping, that the
object store still carries the database's store id (:mod:`datavc.identity`).
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from datavc import identity, open_commits, tree_pages
from datavc.context import Context
from datavc.db.models import Commit, Datum, DatumResult
from datavc.errors import InvalidArgument
from datavc.info import GcInfo

MAX_GRACE = timedelta(days=36500)


def _roots(ctx: Context) -> set[str]:
    with ctx.db.read() as s:
        roots = set(s.scalars(select(Commit.tree).distinct()))
        roots |= set(s.scalars(select(Commit.base_tree).where(Commit.state == "open").distinct()))
        # Datum outputs wait for their job's output commit, and are reused by later jobs
        # that skip the datum: both are roots too.
        roots |= set(s.scalars(select(Datum.output_tree).where(Datum.output_tree.is_not(None)).distinct()))
        roots |= set(s.scalars(select(DatumResult.output_tree).distinct()))
    roots.add(ctx.empty_tree)
    return roots


def check_grace(ctx: Context, grace: timedelta | None, *, dry_run: bool, force: bool) -> timedelta:
    """The grace period to use: ``grace``, or the store's ``open_commit_max_age`` when None.

    Raises:
        InvalidArgument: negative or absurd, or (deleting, without ``force``) shorter than
            the store's ``open_commit_max_age``.
    """
    max_age = open_commits.max_age(ctx)
    if grace is None:
        return max_age
    if grace < timedelta(0):
        raise InvalidArgument("the grace period cannot be negative")
    if grace > MAX_GRACE:
        raise InvalidArgument("the grace period is absurdly long (over 100 years)")
    if grace < max_age and not dry_run and not force:
        raise InvalidArgument(
            f"--grace {open_commits.human(grace)} is shorter than this store's open_commit_max_age "
            f"({open_commits.human(max_age)}): a writer may still publish objects it uploaded up to "
            f"that long ago, and gc would delete them. Use --grace {open_commits.human(max_age)} or "
            "more, or --force if nothing writes to the store now"
        )
    return grace


def gc(ctx: Context, *, dry_run: bool = False, grace: timedelta | None = None, force: bool = False) -> GcInfo:
    """Delete unreachable objects older than ``grace`` (only count them with ``dry_run``).

    ``grace`` defaults to the store's ``open_commit_max_age``; a shorter one needs ``force``.

    Raises:
        InvalidArgument: a bad grace period (see :func:`check_grace`).
        StoreMismatch: the object store is not the database's pair.
    """
    grace = check_grace(ctx, grace, dry_run=dry_run, force=force)
    identity.check(ctx.db, ctx.store)
    start = time.time()
    cutoff = start - grace.total_seconds()
    expired = open_commits.expire(ctx, dry_run=dry_run)
    reachable: set[str] = set()
    marked: set[str] = set()
    pending = _roots(ctx)
    while pending:
        for root in pending:
            for oid, _ in ctx.store.trees.iter_objects(root, marked):
                reachable.add(oid)
        pending = _roots(ctx) - marked
    # Packed datum output trees: a pack stays while any page in it is reachable.
    live_packs, packs = tree_pages.packs_of(ctx.db, reachable)
    reachable |= live_packs
    gone: list[str] = []
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
            if oid in packs:
                gone.append(oid)
        deleted += 1
        freed += size
    if gone:
        tree_pages.forget_packs(ctx.db, gone)
    return GcInfo(dry_run, total, total - deleted - kept, deleted, freed, kept, expired)
