"""Branch heads: the one way a head moves (compare-and-swap, reflog entry, pipeline triggers).

Like dulwich's ``RefsContainer.set_if_equals`` and lakeFS's ``BranchUpdate``: a head moves
from an expected value to a new one in a single conditional ``UPDATE``; the writer that
loses the race learns it from the row count and decides what to do (retry, rebase,
refuse). The same transaction appends the reflog entry (old, new, who, why, when) and
records the jobs of the pipelines reading the branch, so a head never moves without
its history and its triggers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from datavc import branch_triggers
from datavc.db.cas import cas
from datavc.db.models import Branch, BranchHistory, utcnow
from datavc.errors import BranchProtected
from datavc.triggers import on_commit_finished, start_commit_set


def head_is(expected: str | None) -> ColumnElement[bool]:
    """SQL condition: the branch head equals ``expected`` (NULL-safe)."""
    return Branch.head_id.is_(None) if expected is None else Branch.head_id == expected


Move = Literal["commit", "merge", "reset", "delete", "create"]


def check_protection(s: Session, repo_id: int, branch: str, move: Move) -> None:
    """Raise BranchProtected if ``branch``'s protection refuses a ``move`` (merges always pass)."""
    level = s.scalar(select(Branch.protection).where(Branch.repo_id == repo_id, Branch.name == branch))
    if not level or move in ("merge", "create"):
        return
    if move == "commit":
        raise BranchProtected(
            f"branch {branch!r} is protected: it moves only by merge (merge your change from another "
            "branch, or use --force as the repo's owner)"
        )
    if level == "strict":
        raise BranchProtected(
            f"branch {branch!r} is strictly protected: it cannot be "
            f"{'reset' if move == 'reset' else 'deleted'} "
            "(use --force as the repo's owner, or lower its protection)"
        )


def set_if_equals(
    s: Session,
    repo_id: int,
    branch: str,
    old: str | None,
    new: str | None,
    *,
    who: str,
    why: str,
    at: datetime | None = None,
    move: Move = "commit",
    force: bool = False,
    commit_set: str | None = None,
) -> bool:
    """Move ``branch``'s head from ``old`` to ``new`` if it still is ``old``.

    ``move`` says how, for branch protection: a protected branch moves only by ``merge``;
    a strictly protected one is not ``reset`` or ``delete``d either; ``force`` bypasses
    protection (the server lets only owners ask for it).

    On success (True) the move is in the reflog and, when the head now points at a
    different commit, every running pipeline reading the branch has a new job, all in
    the caller's transaction. On a lost race (False) nothing is written.

    Raises:
        BranchProtected: the branch's protection refuses this kind of move (and no ``force``).
    ``commit_set``: the commit set the move belongs to (a finished commit passes its
    own); None starts a new set when the move triggers pipelines (a branch reset).
    """
    if not force and move != "merge":
        check_protection(s, repo_id, branch, move)
    moved = cas(
        s,
        update(Branch)
        .where(Branch.repo_id == repo_id, Branch.name == branch, head_is(old))
        .values(head_id=new),
    )
    if not moved:
        return False
    triggers = new is not None and new != old
    if triggers and commit_set is None:
        commit_set = start_commit_set(s, None, why, who)
    s.add(
        BranchHistory(
            repo_id=repo_id,
            branch=branch,
            old_head=old,
            new_head=new,
            who=who,
            why=why,
            at=at or utcnow(),
            commit_set_id=commit_set if triggers else None,
        )
    )
    s.flush()
    if triggers:
        assert new is not None and commit_set is not None
        on_commit_finished(s, repo_id, branch, new, commit_set)
        for d in branch_triggers.due(s, repo_id, branch, new):
            # An input branch with a trigger follows this branch: same transaction, same set.
            if not d.exists:
                s.add(Branch(repo_id=repo_id, name=d.branch, head_id=None, created_at=utcnow()))
                s.flush()
            set_if_equals(
                s,
                repo_id,
                d.branch,
                d.old,
                new,
                who=who,
                why=f"trigger: {branch} moved",
                commit_set=commit_set,
            )
    return True
