"""Commits: start/finish/abort open commits, inspect, list open, log (``/api/v1/repos/{repo}/...``)."""

from __future__ import annotations

from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from datavc.commit_metadata import parse_pairs
from datavc.server.auth import (
    REQUIRE,
    BaseClient,
    CurrentUser,
    UserClient,
    check_repo_role,
    note_commit,
    require_owner_to_force,
    visible,
)
from datavc.server.pages import DEFAULT_LIMIT, After, Limit

router = APIRouter(prefix="/api/v1/repos/{repo}", tags=["commits"])
top = APIRouter(prefix="/api/v1", tags=["commits"])


class CommitStart(BaseModel):
    branch: str = "main"
    message: str = ""
    metadata: dict[str, str] | None = None


class CommitFinish(BaseModel):
    message: str | None = None
    metadata: dict[str, str] | None = None
    force: bool = False


@router.post("/commits", status_code=201, dependencies=[REQUIRE.writer])
def start_commit(repo: str, body: CommitStart, c: UserClient, request: Request) -> dict[str, Any]:
    """Open a commit on a branch; write into it with ``?commit=ID``, then finish or abort it."""
    info = c.start_commit(repo, body.branch, body.message, metadata=body.metadata)
    note_commit(request, info.id, body.branch)
    return info.to_json()


@router.get("/commits", dependencies=[REQUIRE.reader])
def list_open_commits(repo: str, c: UserClient) -> dict[str, Any]:
    """The repo's open commits."""
    return {"items": [i.to_json() for i in c.list_open_commits(repo)], "next": None}


@router.get("/commits/{commit}", dependencies=[REQUIRE.reader])
def inspect_commit(repo: str, commit: str, c: UserClient) -> dict[str, Any]:
    """One commit; ``commit`` is any ref (branch, tag, id, prefix, ``~N``, ``^``, ``@{time}``)."""
    return c.inspect_commit(repo, commit).to_json()


@router.post("/commits/{commit}/finish", dependencies=[REQUIRE.writer])
def finish_commit(
    repo: str, commit: str, body: CommitFinish, c: UserClient, request: Request
) -> dict[str, Any]:
    require_owner_to_force(request, repo, body.force)
    info = c.finish_commit(repo, commit, body.message, metadata=body.metadata, force=body.force)
    note_commit(request, info.id, info.branch)
    return info.to_json()


@router.post("/commits/{commit}/abort", status_code=204, dependencies=[REQUIRE.writer])
def abort_commit(repo: str, commit: str, c: UserClient) -> None:
    c.abort_commit(repo, commit)


@router.get("/log", dependencies=[REQUIRE.reader])
def log(
    repo: str,
    c: UserClient,
    ref: str = "main",
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    where: Annotated[list[str] | None, Query()] = None,
    all_parents: bool = False,
    path: str | None = None,
    follow: bool = False,
) -> dict[str, Any]:
    """History from ``ref`` back, newest first; ``next`` is the id of the commit to continue from.

    ``where=key=value`` (repeatable) keeps commits whose metadata matches; ``all_parents``
    walks merged-in history too (each commit after its children; not paged: ``next`` is null).
    ``path``: the commits that changed that path (``follow``: through ``cp``), not paged.
    """
    if path is not None:
        changed = c.log(repo, ref, path=path, follow=follow)
        return {"items": [i.to_json() for i in changed], "next": None}
    meta = parse_pairs(where) if where else None
    if all_parents:
        everything = c.log(repo, ref, where=meta, all_parents=True)
        return {"items": [i.to_json() for i in everything], "next": None}
    start = after if after is not None else ref
    items = list(islice(c.log(repo, start, limit + 1, where=meta), limit + 1))
    more = len(items) > limit
    return {"items": [i.to_json() for i in items[:limit]], "next": items[limit].id if more else None}


@top.get("/open-commits", dependencies=[REQUIRE.authenticated])
def open_commits(
    request: Request, c: UserClient, base: BaseClient, me: CurrentUser, repo: str | None = None
) -> dict[str, Any]:
    """Open commits, oldest first, with when each expires: of ``repo`` (needs ``reader``), or of
    every repo the caller can read."""
    if repo is not None:
        check_repo_role(request, me, repo, "reader")
    items = visible(c.open_commits(repo), me, base, lambda o: o.commit.repo)
    return {"items": [i.to_json() for i in items], "next": None}
