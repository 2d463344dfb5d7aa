"""Repos: create, list, inspect, delete (``/api/v1/repos``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from datavc import accounts
from datavc.server.auth import REQUIRE, BaseClient, CurrentUser, UserClient, visible
from datavc.server.pages import DEFAULT_LIMIT, After, Limit, page

router = APIRouter(prefix="/api/v1", tags=["repos"])


class RepoCreate(BaseModel):
    name: str = Field(min_length=1, max_length=63)
    description: str = ""


@router.post("/repos", status_code=201, dependencies=[REQUIRE.authenticated])
def create_repo(body: RepoCreate, c: UserClient, me: CurrentUser, request: Request) -> dict[str, Any]:
    """Create a repo; its creator becomes its owner."""
    request.state.audit_repo = body.name
    info = c.create_repo(body.name, body.description)
    if not me.is_admin:
        accounts.grant_role(c.context, info.name, me.name, "owner")
    return info.to_json()


@router.get("/repos", dependencies=[REQUIRE.authenticated])
def list_repos(
    c: UserClient, base: BaseClient, me: CurrentUser, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> dict[str, Any]:
    """The repos the caller has a role on (every repo for an admin), by name."""
    repos = visible(c.list_repos(), me, base, lambda r: r.name)
    return page(repos, limit, after, lambda r: r.name, lambda r: r.to_json())


@router.get("/repos/{repo}", dependencies=[REQUIRE.reader])
def inspect_repo(repo: str, c: UserClient) -> dict[str, Any]:
    return c.inspect_repo(repo).to_json()


@router.delete("/repos/{repo}", status_code=204, dependencies=[REQUIRE.owner])
def delete_repo(repo: str, c: UserClient, request: Request, force: bool = False) -> None:
    """Delete a repo; one with commits needs ``force=true``."""
    c.delete_repo(repo, force=force)


class Chunking(BaseModel):
    min: int
    avg: int
    max: int


class StoreInfo(BaseModel):
    chunking: Chunking
    framed_uploads: bool


@router.get("/store", dependencies=[REQUIRE.authenticated], tags=["files"])
def store_info(c: UserClient) -> StoreInfo:
    """The store's FastCDC chunk sizes, in bytes: a client that cuts a file with them may upload
    it as frames (``PUT .../files/{path}?framed=true``); the server still hashes every chunk."""
    return StoreInfo(chunking=Chunking(**c.chunking().as_dict()), framed_uploads=True)
