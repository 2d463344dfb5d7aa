"""Finishing commits on PostgreSQL by queueing on the branch row, instead of racing for it.

The optimistic path (:func:`datavc.commits.finish_commit`) reads the head, rebases outside
any transaction and moves the head by compare-and-swap; with many writers on one branch
most of them lose, rebase again and back off, so eight concurrent writers were slower than
the same puts in sequence. On PostgreSQL a finishing writer instead locks the branch row
(``SELECT ... FOR UPDATE``) and the commit row, rebases once onto the head it now holds,
and moves the head in the same transaction: writers to one branch form a queue and
every rebase is done once; writers to different branches lock different rows and run
in parallel. (SQLite has one writer at a time anyway: it keeps the optimistic path, which
holds the write lock only for the final update.)
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from datavc.context import Context, now
from datavc.db.models import Branch, Provenance
from datavc.errors import BranchMoved, BranchNotFound, InvalidArgument
from datavc.heads import set_if_equals
from datavc.info import CommitInfo
from datavc.open_commits import check_live
from datavc.refs import get_commit
from datavc.repos import get_repo

Mode = str  # "rebase" | "exact" | "strict" (datavc.commits.Mode)


def finish_queued(
    ctx: Context,
    repo_name: str,
    commit_id: str,
    *,
    message: str | None,
    mode: Mode,
    provenance: list[str],
    on_finish: Callable[[Session, str], None] | None,
) -> CommitInfo:
    """:func:`datavc.commits.finish_commit` under the branch row's lock (PostgreSQL).

    Raises:
        BranchMoved: ``strict`` and the branch moved; CommitFinished, CommitNotFound,
        CommitExpired, BranchNotFound, InvalidArgument as :func:`finish_commit`.
    """
    from datavc.commits import apply_changes, commit_info, open_commit

    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        c = open_commit(s, repo, commit_id)
        check_live(s, c)
        branch = c.branch
        if branch is None:
            raise InvalidArgument(f"commit {c.id} is on no branch")
        br = s.scalars(
            select(Branch).where(Branch.repo_id == repo.id, Branch.name == branch).with_for_update()
        ).one_or_none()
        if br is None:
            raise BranchNotFound(repo.name, branch)
        # Lock the commit too, then read it again: an edit may have landed before the lock.
        s.refresh(c, with_for_update=True)
        c = open_commit(s, repo, commit_id)
        if br.head_id != c.parent_id:
            if mode == "strict":
                raise BranchMoved(
                    repo_name, branch, f"{repo_name}@{branch} moved since commit {c.id[:12]} started"
                )
            head_tree = get_commit(s, repo, br.head_id).tree if br.head_id else ctx.empty_tree
            if mode == "exact":
                new_tree = c.tree
            else:
                with ctx.store.writer() as w:
                    changes = ((d.path, d.new) for d in ctx.store.diff(c.base_tree, c.tree))
                    new_tree = apply_changes(w, head_tree, changes)
            c.parent_id, c.base_tree, c.tree = br.head_id, head_tree, new_tree
        _, files, size = ctx.store.trees.totals(c.tree)
        c.state, c.finished_at, c.size, c.file_count = "finished", now(), size, files
        if message is not None:
            c.message = message
        s.flush()
        why = f"{c.origin} commit: {c.message}".rstrip(": ")
        moved = set_if_equals(s, repo.id, branch, c.parent_id, c.id, who=ctx.user, why=why, at=c.finished_at)
        assert moved, "the branch row is locked: its head cannot have moved"
        for input_id in provenance:
            s.add(Provenance(commit_id=c.id, input_commit_id=input_id, kind="input"))
        if on_finish is not None:
            on_finish(s, c.id)
        s.flush()
        return commit_info(s, repo, c)
