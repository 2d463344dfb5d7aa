"""Users, tokens, roles, whoami and the audit log (``/api/v1/auth``, ``/api/v1/repos/{repo}/roles``).

Admins manage users and anyone's tokens; every user can list, create and revoke their
own tokens; a repo's owners grant and revoke roles on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from datavc import accounts, audit
from datavc.errors import Forbidden
from datavc.server.auth import REQUIRE, BaseClient, CurrentUser, UserClient
from datavc.server.pages import DEFAULT_LIMIT, After, Limit, page

router = APIRouter(prefix="/api/v1", tags=["auth"])


class UserCreate(BaseModel):
    name: str
    admin: bool = False


class TokenCreate(BaseModel):
    user: str | None = None  # default: the caller; another user's needs admin
    name: str = ""
    expires_in_seconds: int | None = None


class RoleGrant(BaseModel):
    user: str
    role: str


@router.get("/auth/whoami", dependencies=[REQUIRE.authenticated])
def whoami(me: CurrentUser, c: BaseClient) -> dict[str, Any]:
    """The caller, their token's id and their roles."""
    roles = accounts.list_roles(c.context, user=me.name)
    return {
        "user": me.name,
        "admin": me.is_admin,
        "token": me.token_id,
        "roles": {r.repo: r.role for r in roles},
    }


@router.get("/auth/users", dependencies=[REQUIRE.admin])
def list_users(c: BaseClient, limit: Limit = DEFAULT_LIMIT, after: After = None) -> dict[str, Any]:
    return page(accounts.list_users(c.context), limit, after, lambda u: u.name, lambda u: u.to_json())


@router.post("/auth/users", status_code=201, dependencies=[REQUIRE.admin])
def create_user(body: UserCreate, c: UserClient) -> dict[str, Any]:
    return accounts.create_user(c.context, body.name, admin=body.admin).to_json()


@router.delete("/auth/users/{user}", status_code=204, dependencies=[REQUIRE.admin])
def delete_user(user: str, c: UserClient) -> None:
    accounts.delete_user(c.context, user)


@router.get("/auth/tokens", dependencies=[REQUIRE.authenticated])
def list_tokens(
    me: CurrentUser, c: BaseClient, user: str | None = None, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> dict[str, Any]:
    """The caller's tokens; an admin may name another ``user`` or list all with ``user=*``."""
    who = me.name if user is None else user
    if who != me.name and not me.is_admin:
        raise Forbidden(f"user {me.name!r} needs the admin permission to list another user's tokens")
    tokens = accounts.list_tokens(c.context, None if who == "*" else who)
    return page(tokens, limit, after, lambda t: t.id, lambda t: t.to_json())


@router.post("/auth/tokens", status_code=201, dependencies=[REQUIRE.authenticated])
def create_token(body: TokenCreate, me: CurrentUser, c: UserClient) -> dict[str, Any]:
    """A new token (its ``secret`` appears in this answer only)."""
    who = body.user or me.name
    if who != me.name and not me.is_admin:
        raise Forbidden(f"user {me.name!r} needs the admin permission to create a token for {who!r}")
    expires = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds is not None else None
    return accounts.create_token(c.context, who, name=body.name, expires_in=expires).to_json()


@router.delete("/auth/tokens/{token}", dependencies=[REQUIRE.authenticated])
def revoke_token(token: str, me: CurrentUser, c: UserClient) -> dict[str, Any]:
    """Revoke one of the caller's tokens (an admin: anyone's)."""
    info = accounts.inspect_token(c.context, token)
    if info.user != me.name and not me.is_admin:
        raise Forbidden(f"user {me.name!r} needs the admin permission to revoke another user's token")
    return accounts.revoke_token(c.context, token).to_json()


@router.get("/repos/{repo}/roles", dependencies=[REQUIRE.owner])
def list_roles(repo: str, c: BaseClient) -> dict[str, Any]:
    return {"items": [r.to_json() for r in accounts.list_roles(c.context, repo=repo)], "next": None}


@router.put("/repos/{repo}/roles", dependencies=[REQUIRE.owner])
def grant_role(repo: str, body: RoleGrant, c: UserClient) -> dict[str, Any]:
    """Give ``user`` exactly ``role`` on the repo."""
    return accounts.grant_role(c.context, repo, body.user, body.role).to_json()


@router.delete("/repos/{repo}/roles/{user}", status_code=204, dependencies=[REQUIRE.owner])
def revoke_role(repo: str, user: str, c: UserClient) -> None:
    accounts.revoke_role(c.context, repo, user)


@router.get("/auth/audit", dependencies=[REQUIRE.admin])
def list_audit(
    c: BaseClient,
    repo: str | None = None,
    user: str | None = None,
    since: datetime | None = None,
    limit: int = Query(default=DEFAULT_LIMIT, ge=1, le=100_000),
) -> dict[str, Any]:
    """Audit entries, oldest first."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    items = audit.list_entries(c.context, repo=repo, user=user, since=since, limit=limit)
    return {"items": [e.to_json() for e in items], "next": None}
