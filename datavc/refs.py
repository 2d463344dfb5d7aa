"""Resolving refs: branches, tags, commit ids and prefixes, ``^``/``~N``, ``branch@{time}``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from datavc.db.models import Branch, BranchHistory, Commit, Repo, Tag
from datavc.errors import AmbiguousRef, BranchNotFound, CommitNotFound, NotFound
from datavc.names import COMMIT_ID_RE, RefExpr, is_commit_prefix, parse_ref


def get_branch(s: Session, repo: Repo, name: str) -> Branch:
    """The branch row ``name`` of ``repo``.

    Raises:
        BranchNotFound
    """
    br = s.scalars(select(Branch).where(Branch.repo_id == repo.id, Branch.name == name)).one_or_none()
    if br is None:
        raise BranchNotFound(repo.name, name)
    return br


def get_commit(s: Session, repo: Repo, commit_id: str) -> Commit:
    c = s.get(Commit, commit_id)
    if c is None or c.repo_id != repo.id:
        raise CommitNotFound(repo.name, commit_id)
    return c


def _base(s: Session, repo: Repo, expr: RefExpr, text: str) -> Commit:
    if expr.at is not None:
        get_branch(s, repo, expr.base)
        ev = s.scalars(
            select(BranchHistory)
            .where(
                BranchHistory.repo_id == repo.id,
                BranchHistory.branch == expr.base,
                BranchHistory.at <= expr.at,
            )
            .order_by(BranchHistory.at.desc(), BranchHistory.id.desc())
            .limit(1)
        ).first()
        if ev is None or ev.new_head is None:
            raise NotFound(f"branch {expr.base!r} had no commit at {expr.at.isoformat()}")
        return get_commit(s, repo, ev.new_head)
    br = s.scalars(select(Branch).where(Branch.repo_id == repo.id, Branch.name == expr.base)).one_or_none()
    if br is not None:
        if br.head_id is None:
            raise NotFound(f"branch {expr.base!r} of repo {repo.name!r} has no commits yet")
        return get_commit(s, repo, br.head_id)
    tag = s.scalars(select(Tag).where(Tag.repo_id == repo.id, Tag.name == expr.base)).one_or_none()
    if tag is not None:
        return get_commit(s, repo, tag.commit_id)
    if COMMIT_ID_RE.fullmatch(expr.base):
        return get_commit(s, repo, expr.base)
    if is_commit_prefix(expr.base):
        found = list(
            s.scalars(
                select(Commit)
                .where(Commit.repo_id == repo.id, Commit.id >= expr.base, Commit.id < expr.base + "g")
                .limit(2)
            )
        )
        if len(found) > 1:
            raise AmbiguousRef(
                repo.name,
                text,
                f"commit prefix {expr.base!r} is ambiguous in repo {repo.name!r}: use more characters",
            )
        if found:
            return found[0]
    raise NotFound(f"ref {text!r} not found in repo {repo.name!r} (no such branch, tag or commit)")


def resolve(s: Session, repo: Repo, ref: str) -> Commit:
    """The commit ``ref`` names in ``repo``.

    Raises:
        InvalidArgument: malformed; AmbiguousRef; NotFound: no such ref or not that many parents.
    """
    expr = parse_ref(ref)
    commit = _base(s, repo, expr, ref)
    for i in range(expr.back):
        if commit.parent_id is None:
            raise NotFound(f"{ref!r}: commit {commit.id[:12]} has no parent ({i} steps back of {expr.back})")
        commit = get_commit(s, repo, commit.parent_id)
    return commit
