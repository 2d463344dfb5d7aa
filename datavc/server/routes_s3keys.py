"""S3 gateway keys (``/api/v1/auth/s3-keys``): every user manages their own; admins anyone's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from datavc import s3keys
from datavc.errors import Forbidden
from datavc.server.auth import REQUIRE, BaseClient, CurrentUser

router = APIRouter(prefix="/api/v1", tags=["auth"])


class S3KeyCreate(BaseModel):
    user: str | None = None  # default: the caller; another user's needs admin
    name: str = ""


@router.post("/auth/s3-keys", status_code=201, dependencies=[REQUIRE.authenticated])
def create_s3_key(body: S3KeyCreate, me: CurrentUser, c: BaseClient) -> dict[str, Any]:
    """A new access key (its ``secret`` appears in this answer only)."""
    who = body.user or me.name
    if who != me.name and not me.is_admin:
        raise Forbidden(f"user {me.name!r} needs the admin permission to create an S3 key for {who!r}")
    return s3keys.create_key(c.context, who, name=body.name).to_json()


@router.get("/auth/s3-keys", dependencies=[REQUIRE.authenticated])
def list_s3_keys(me: CurrentUser, c: BaseClient, user: str | None = None) -> dict[str, Any]:
    """The caller's keys; an admin may name another ``user`` or list all with ``user=*``."""
    who = me.name if user is None else user
    if who != me.name and not me.is_admin:
        raise Forbidden(f"user {me.name!r} needs the admin permission to list another user's S3 keys")
    keys = s3keys.list_keys(c.context, None if who == "*" else who)
    return {"items": [k.to_json() for k in keys], "next": None}


@router.delete("/auth/s3-keys/{key}", dependencies=[REQUIRE.authenticated])
def revoke_s3_key(key: str, me: CurrentUser, c: BaseClient) -> dict[str, Any]:
    """Revoke one of the caller's keys (an admin: anyone's)."""
    if s3keys.key_owner(c.context, key) != me.name and not me.is_admin:
        raise Forbidden(f"user {me.name!r} needs the admin permission to revoke another user's S3 key")
    return s3keys.revoke_key(c.context, key).to_json()
