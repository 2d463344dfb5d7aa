"""Branches, tags, the reflog and rollback (``/api/v1/repos/{repo}/branches|tags``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from datavc.server.auth import REQUIRE, UserClient, note_commit, require_owner_to_force
from datavc.server.pages import DEFAULT_LIMIT, After, Limit, page

router = APIRouter(prefix="/api/v1/repos/{repo}", tags=["branches and tags"])


class BranchCreate(BaseModel):
    name: str
    from_ref: str | None = None


class BranchReset(BaseModel):
    to: str
    force: bool = False


class TagCreate(BaseModel):
    name: str
    ref: str


class Rollback(BaseModel):
    to: str
    message: str | None = None
    metadata: dict[str, str] | None = None
    force: bool = False


@router.get("/branches", dependencies=[REQUIRE.reader])
def list_branches(
    repo: str, c: UserClient, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> dict[str, Any]:
    return page(c.list_branches(repo), limit, after, lambda b: b.name, lambda b: b.to_json())


@router.post("/branches", status_code=201, dependencies=[REQUIRE.writer])
def create_branch(repo: str, body: BranchCreate, c: UserClient, request: Request) -> dict[str, Any]:
    info = c.create_branch(repo, body.name, body.from_ref)
    note_commit(request, info.head, info.name)
    return info.to_json()


@router.get("/branches/{branch}", dependencies=[REQUIRE.reader])
def inspect_branch(repo: str, branch: str, c: UserClient) -> dict[str, Any]:
    return c.inspect_branch(repo, branch).to_json()


@router.delete("/branches/{branch}", status_code=204, dependencies=[REQUIRE.writer])
def delete_branch(repo: str, branch: str, c: UserClient, request: Request, force: bool = False) -> None:
    """Delete a branch; ``force`` (the owner role) bypasses strict protection."""
    require_owner_to_force(request, repo, force)
    c.delete_branch(repo, branch, force=force)


@router.post("/branches/{branch}/reset", dependencies=[REQUIRE.writer])
def reset_branch(
    repo: str, branch: str, body: BranchReset, c: UserClient, request: Request
) -> dict[str, Any]:
    """Move the head directly (recorded in the reflog); ``force`` (the owner role) bypasses protection."""
    require_owner_to_force(request, repo, body.force)
    info = c.reset_branch(repo, branch, body.to, force=body.force)
    note_commit(request, info.head)
    return info.to_json()


@router.get("/branches/{branch}/reflog", dependencies=[REQUIRE.reader])
def reflog(repo: str, branch: str, c: UserClient, limit: Limit = DEFAULT_LIMIT) -> dict[str, Any]:
    """The newest ``limit`` head moves, newest first."""
    return {"items": [e.to_json() for e in c.reflog(repo, branch, limit)], "next": None}


@router.post("/branches/{branch}/rollback", dependencies=[REQUIRE.writer])
def rollback(repo: str, branch: str, body: Rollback, c: UserClient, request: Request) -> dict[str, Any]:
    """A new commit on the branch whose content is ``to``'s."""
    require_owner_to_force(request, repo, body.force)
    info = c.rollback(repo, branch, body.to, message=body.message, metadata=body.metadata, force=body.force)
    note_commit(request, info.id)
    return info.to_json()


@router.get("/tags", dependencies=[REQUIRE.reader])
def list_tags(repo: str, c: UserClient, limit: Limit = DEFAULT_LIMIT, after: After = None) -> dict[str, Any]:
    return page(c.list_tags(repo), limit, after, lambda t: t.name, lambda t: t.to_json())


@router.post("/tags", status_code=201, dependencies=[REQUIRE.writer])
def create_tag(repo: str, body: TagCreate, c: UserClient, request: Request) -> dict[str, Any]:
    info = c.create_tag(repo, body.ref, body.name)
    note_commit(request, info.commit)
    return info.to_json()


@router.delete("/tags/{tag}", status_code=204, dependencies=[REQUIRE.writer])
def delete_tag(repo: str, tag: str, c: UserClient) -> None:
    c.delete_tag(repo, tag)
