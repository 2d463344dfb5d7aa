"""Repos: create, list, inspect, delete."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datavc.context import Context, now
from datavc.db.models import Branch, Commit, Provenance, Repo
from datavc.errors import AlreadyExists, Conflict, RepoNotFound
from datavc.heads import set_if_equals
from datavc.info import RepoInfo
from datavc.names import check_name

DEFAULT_BRANCH = "main"


def get_repo(s: Session, name: str) -> Repo:
    """The repo row called ``name``.

    Raises:
        RepoNotFound
    """
    check_name(name, "repo")
    repo = s.scalars(select(Repo).where(Repo.name == name)).one_or_none()
    if repo is None:
        raise RepoNotFound(name)
    return repo


def _info(s: Session, repo: Repo) -> RepoInfo:
    branches = tuple(s.scalars(select(Branch.name).where(Branch.repo_id == repo.id).order_by(Branch.name)))
    head = s.scalars(
        select(Commit)
        .join(Branch, Branch.head_id == Commit.id)
        .where(Branch.repo_id == repo.id, Branch.name == DEFAULT_BRANCH)
    ).one_or_none()
    count = s.scalar(select(func.count()).select_from(Commit).where(Commit.repo_id == repo.id)) or 0
    open_ids = tuple(
        s.scalars(
            select(Commit.id)
            .where(Commit.repo_id == repo.id, Commit.state == "open")
            .order_by(Commit.created_at, Commit.id)
        )
    )
    return RepoInfo(
        repo.name,
        repo.description,
        repo.created_at,
        repo.created_by,
        branches,
        head.size if head else 0,
        head.file_count if head else 0,
        count,
        open_ids,
    )


def create_repo(ctx: Context, name: str, description: str = "", *, output_of: str | None = None) -> RepoInfo:
    """Create a repo with an empty ``main`` branch.

    Args:
        output_of: the pipeline this repo is the output of (set by pipelines only).

    Raises:
        InvalidArgument: a bad name; AlreadyExists: the name is taken.
    """
    check_name(name, "repo")
    try:
        with ctx.db.write() as s:
            if s.scalars(select(Repo.id).where(Repo.name == name)).first() is not None:
                raise AlreadyExists(f"repo {name!r} already exists")
            t = now()
            repo = Repo(
                name=name, description=description, created_at=t, created_by=ctx.user, output_of=output_of
            )
            s.add(repo)
            s.flush()
            s.add(Branch(repo_id=repo.id, name=DEFAULT_BRANCH, head_id=None, created_at=t))
            s.flush()
            why = "create repo"
            if not set_if_equals(s, repo.id, DEFAULT_BRANCH, None, None, who=ctx.user, why=why, at=t):
                raise AssertionError("a branch created in this transaction cannot have moved")
            return _info(s, repo)
    except IntegrityError as err:  # lost a race with another creator
        raise AlreadyExists(f"repo {name!r} already exists") from err


def list_repos(ctx: Context) -> list[RepoInfo]:
    with ctx.db.read() as s:
        return [_info(s, r) for r in s.scalars(select(Repo).order_by(Repo.name))]


def inspect_repo(ctx: Context, name: str) -> RepoInfo:
    with ctx.db.read() as s:
        return _info(s, get_repo(s, name))


def delete_repo(ctx: Context, name: str, *, force: bool = False) -> None:
    """Delete a repo and all its commits, branches and tags (objects are reclaimed by gc).

    A repo a pipeline reads or writes is refused without ``force``; with it, each such
    pipeline is stopped with the reason (``pipeline list``/``inspect`` show it) and its
    waiting jobs are killed. Recreating the repo and starting the pipeline resumes it.

    Raises:
        Conflict: the repo has commits (or others' commits were derived from it), or a
            pipeline uses it, and not ``force``.
    """
    from datavc.usage import stop_for_deleted_repo, users_of_repo

    with ctx.db.write() as s:
        repo = get_repo(s, name)
        users = users_of_repo(s, repo)
        if users and not force:
            uses = ", ".join(f"pipeline {p!r} {how} it" for p, how in users)
            raise Conflict(
                f"repo {name!r} is in use: {uses}; delete or update the pipeline first, "
                "or use --force to delete the repo and stop the pipeline"
            )
        if not force:
            has_commits = s.scalars(select(Commit.id).where(Commit.repo_id == repo.id).limit(1)).first()
            if has_commits is not None:
                raise Conflict(f"repo {name!r} has commits; use --force to delete it and its history")
        used = s.scalars(
            select(Provenance.commit_id)
            .join(Commit, Commit.id == Provenance.input_commit_id)
            .where(Commit.repo_id == repo.id)
            .limit(1)
        ).first()
        if used is not None and not force:
            raise Conflict(f"commits of other repos were derived from {name!r}; use --force")
        stop_for_deleted_repo(s, name, users)
        s.delete(repo)
