"""Branches, tags and the reflog (every head move: old, new, who, why, when)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datavc.context import Context, now
from datavc.db.models import Branch, BranchHistory, Repo, Tag
from datavc.errors import AlreadyExists, BranchMoved, Conflict, InvalidArgument, TagNotFound
from datavc.heads import set_if_equals
from datavc.info import BranchInfo, ReflogEntry, TagInfo
from datavc.names import check_name
from datavc.refs import get_branch, resolve
from datavc.repos import DEFAULT_BRANCH, get_repo


def _branch_info(repo: Repo, br: Branch) -> BranchInfo:
    return BranchInfo(repo.name, br.name, br.head_id, br.created_at, br.protection)


def create_branch(ctx: Context, repo_name: str, name: str, from_ref: str | None = None) -> BranchInfo:
    """A new branch at ``from_ref`` (default: the head of ``main``, or empty if it has none)."""
    check_name(name, "branch")
    try:
        with ctx.db.write() as s:
            repo = get_repo(s, repo_name)
            if s.scalars(select(Branch.id).where(Branch.repo_id == repo.id, Branch.name == name)).first():
                raise AlreadyExists(f"branch {name!r} already exists in repo {repo_name!r}")
            if from_ref is not None:
                head: str | None = resolve(s, repo, from_ref).id
            else:
                head = get_branch(s, repo, DEFAULT_BRANCH).head_id if _has(s, repo, DEFAULT_BRANCH) else None
            br = Branch(repo_id=repo.id, name=name, head_id=None, created_at=now())
            s.add(br)
            s.flush()
            # Pipelines reading this branch see its first head, as after any head move.
            why = f"create branch from {from_ref or DEFAULT_BRANCH}"
            if not set_if_equals(s, repo.id, name, None, head, who=ctx.user, why=why, move="create"):
                raise AssertionError("a branch created in this transaction cannot have moved")
            s.refresh(br)
            return _branch_info(repo, br)
    except IntegrityError as err:
        raise AlreadyExists(f"branch {name!r} already exists in repo {repo_name!r}") from err


def _has(s: Session, repo: Repo, name: str) -> bool:
    return (
        s.scalars(select(Branch.id).where(Branch.repo_id == repo.id, Branch.name == name)).first() is not None
    )


def list_branches(ctx: Context, repo_name: str) -> list[BranchInfo]:
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        return [
            _branch_info(repo, b)
            for b in s.scalars(select(Branch).where(Branch.repo_id == repo.id).order_by(Branch.name))
        ]


def inspect_branch(ctx: Context, repo_name: str, name: str) -> BranchInfo:
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        return _branch_info(repo, get_branch(s, repo, name))


def delete_branch(ctx: Context, repo_name: str, name: str, *, force: bool = False) -> None:
    """Delete a branch (its commits stay reachable by id, tags and other branches).

    Raises:
        BranchProtected: the branch is strictly protected (and no ``force``).
    """
    check_name(name, "branch")
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        br = get_branch(s, repo, name)
        moved = set_if_equals(
            s, repo.id, name, br.head_id, None, who=ctx.user, why="delete branch", move="delete", force=force
        )
        if not moved:
            raise BranchMoved(repo_name, name, f"branch {name!r} moved during the delete; try again")
        s.delete(br)


def reset_branch(
    ctx: Context, repo_name: str, name: str, to: str, *, why: str = "reset", force: bool = False
) -> BranchInfo:
    """Move a branch head directly to ``to`` (recorded in the reflog; no new commit).

    Raises:
        BranchProtected: the branch is strictly protected (and no ``force``).
    """
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        br = get_branch(s, repo, name)
        target = resolve(s, repo, to)
        if target.state != "finished":
            raise Conflict(f"commit {target.id} is still open; finish it first")
        # A moved head triggers pipelines like a new commit does (set_if_equals does that).
        moved = set_if_equals(
            s,
            repo.id,
            name,
            br.head_id,
            target.id,
            who=ctx.user,
            why=f"{why} to {to}",
            move="reset",
            force=force,
        )
        if not moved:
            raise BranchMoved(repo_name, name, f"branch {name!r} moved during the reset; try again")
        s.refresh(br)
        return _branch_info(repo, br)


PROTECTIONS = ("", "merge", "strict")


def protect_branch(ctx: Context, repo_name: str, name: str, level: str = "merge") -> BranchInfo:
    """Set a branch's protection: ``merge`` (it moves only by merge), ``strict`` (also never
    deleted or reset), or ``""`` (none). ``force`` on a move bypasses it.

    Raises:
        InvalidArgument: an unknown level; BranchNotFound.
    """
    if level not in PROTECTIONS:
        raise InvalidArgument(f"unknown protection {level!r}: use merge, strict or none")
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        br = get_branch(s, repo, name)
        br.protection = level
        s.flush()
        return _branch_info(repo, br)


def reflog(ctx: Context, repo_name: str, branch: str, limit: int | None = None) -> list[ReflogEntry]:
    """Every head move of ``branch``, newest first (also after the branch was deleted)."""
    check_name(branch, "branch")
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        q = (
            select(BranchHistory)
            .where(BranchHistory.repo_id == repo.id, BranchHistory.branch == branch)
            .order_by(BranchHistory.id.desc())
        )
        if limit is not None:
            q = q.limit(limit)
        rows = list(s.scalars(q))
        if not rows:
            get_branch(s, repo, branch)
        return [ReflogEntry(repo.name, h.branch, h.old_head, h.new_head, h.who, h.why, h.at) for h in rows]


# ----- tags ------------------------------------------------------------------------------


def create_tag(ctx: Context, repo_name: str, ref: str, name: str) -> TagInfo:
    check_name(name, "tag")
    try:
        with ctx.db.write() as s:
            repo = get_repo(s, repo_name)
            if s.scalars(select(Tag.id).where(Tag.repo_id == repo.id, Tag.name == name)).first():
                raise AlreadyExists(f"tag {name!r} already exists in repo {repo_name!r}")
            if _has(s, repo, name):
                raise InvalidArgument(f"{name!r} is a branch of repo {repo_name!r}; a tag needs another name")
            c = resolve(s, repo, ref)
            if c.state != "finished":
                raise Conflict(f"commit {c.id} is still open; finish it before tagging")
            tag = Tag(repo_id=repo.id, name=name, commit_id=c.id, created_at=now(), created_by=ctx.user)
            s.add(tag)
            s.flush()
            return TagInfo(repo.name, name, c.id, tag.created_at, tag.created_by)
    except IntegrityError as err:
        raise AlreadyExists(f"tag {name!r} already exists in repo {repo_name!r}") from err


def list_tags(ctx: Context, repo_name: str) -> list[TagInfo]:
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        return [
            TagInfo(repo.name, t.name, t.commit_id, t.created_at, t.created_by)
            for t in s.scalars(select(Tag).where(Tag.repo_id == repo.id).order_by(Tag.name))
        ]


def delete_tag(ctx: Context, repo_name: str, name: str) -> None:
    check_name(name, "tag")
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        tag = s.scalars(select(Tag).where(Tag.repo_id == repo.id, Tag.name == name)).one_or_none()
        if tag is None:
            raise TagNotFound(repo_name, name)
        s.delete(tag)
