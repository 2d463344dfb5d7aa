"""Merge, revert, cherry-pick, branch protection and hooks (``/api/v1/repos/{repo}/...``).

Bypassing a branch's protection (``force``) needs the ``owner`` role on the repo, on top
of the ``writer`` role the route declares; protecting a branch and managing hooks need ``owner``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from datavc.errors import InvalidArgument
from datavc.server.auth import REQUIRE, UserClient, note_commit, require_owner_to_force

router = APIRouter(prefix="/api/v1/repos/{repo}", tags=["merge"])


class _Resolution(BaseModel):
    strategy: Literal["ours", "theirs"] | None = None
    ours: list[str] = Field(default_factory=list)
    theirs: list[str] = Field(default_factory=list)
    dry_run: bool = False
    message: str | None = None
    metadata: dict[str, str] | None = None


class MergeBody(_Resolution):
    source: str
    branch: str
    no_ff: bool = False


class PickBody(_Resolution):
    ref: str
    branch: str | None = None
    force: bool = False


class HookBody(BaseModel):
    name: str
    event: str
    cmd: list[str] | None = None
    url: str | None = None
    branches: str = "*"
    image: str | None = None
    timeout: float = 60.0
    env: dict[str, str] = Field(default_factory=dict)


class ProtectBody(BaseModel):
    level: Literal["", "merge", "strict"] = "merge"


@router.post("/merge", dependencies=[REQUIRE.writer])
def merge(repo: str, body: MergeBody, c: UserClient, request: Request) -> dict[str, Any]:
    """Merge ``source`` (any ref) into ``branch``; conflicts answer 409 with every conflict listed."""
    info = c.merge(
        repo,
        body.source,
        body.branch,
        strategy=body.strategy,
        ours=body.ours,
        theirs=body.theirs,
        dry_run=body.dry_run,
        no_ff=body.no_ff,
        message=body.message,
        metadata=body.metadata,
    )
    note_commit(request, info.commit.id if info.commit else None, body.branch)
    return info.to_json()


@router.post("/revert", dependencies=[REQUIRE.writer])
def revert(repo: str, body: PickBody, c: UserClient, request: Request) -> dict[str, Any]:
    """Commit the inverse of ``ref``'s change on ``branch`` (default: the branch it was made on)."""
    require_owner_to_force(request, repo, body.force)
    info = c.revert(
        repo,
        body.ref,
        body.branch,
        strategy=body.strategy,
        ours=body.ours,
        theirs=body.theirs,
        dry_run=body.dry_run,
        message=body.message,
        metadata=body.metadata,
        force=body.force,
    )
    note_commit(request, info.commit.id if info.commit else None, info.branch)
    return info.to_json()


@router.post("/cherry-pick", dependencies=[REQUIRE.writer])
def cherry_pick(repo: str, body: PickBody, c: UserClient, request: Request) -> dict[str, Any]:
    """Commit the change ``ref`` made on ``branch``."""
    require_owner_to_force(request, repo, body.force)
    if body.branch is None:
        raise InvalidArgument("cherry-pick needs a branch")
    info = c.cherry_pick(
        repo,
        body.ref,
        body.branch,
        strategy=body.strategy,
        ours=body.ours,
        theirs=body.theirs,
        dry_run=body.dry_run,
        message=body.message,
        metadata=body.metadata,
        force=body.force,
    )
    note_commit(request, info.commit.id if info.commit else None, info.branch)
    return info.to_json()


@router.post("/branches/{branch}/protect", dependencies=[REQUIRE.owner])
def protect_branch(
    repo: str, branch: str, body: ProtectBody, c: UserClient, request: Request
) -> dict[str, Any]:
    """Set the branch's protection: ``merge``, ``strict`` or ``""`` (none)."""
    note_commit(request, None, branch)
    return c.protect_branch(repo, branch, body.level).to_json()


@router.post("/hooks", status_code=201, dependencies=[REQUIRE.owner])
def add_hook(repo: str, body: HookBody, c: UserClient) -> dict[str, Any]:
    """Declare a hook (pre-commit, pre-merge: may refuse; post-commit, post-merge: notify)."""
    info = c.add_hook(
        repo,
        body.name,
        body.event,
        cmd=body.cmd,
        url=body.url,
        branches=body.branches,
        image=body.image,
        timeout=body.timeout,
        env=body.env,
    )
    return info.to_json()


@router.get("/hooks", dependencies=[REQUIRE.reader])
def list_hooks(repo: str, c: UserClient) -> dict[str, Any]:
    return {"items": [h.to_json() for h in c.list_hooks(repo)], "next": None}


@router.delete("/hooks/{hook}", status_code=204, dependencies=[REQUIRE.owner])
def delete_hook(repo: str, hook: str, c: UserClient) -> None:
    c.delete_hook(repo, hook)


@router.get("/commits/{commit}/hooks", dependencies=[REQUIRE.reader])
def hook_results(repo: str, commit: str, c: UserClient) -> dict[str, Any]:
    """What the hooks said about a commit."""
    return {"items": [r.to_json() for r in c.hook_results(repo, commit)], "next": None}
