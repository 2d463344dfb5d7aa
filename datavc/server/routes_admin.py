"""Store maintenance and lineage: fsck and gc (admin), lineage of a commit (reader)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from datavc.server.auth import REQUIRE, UserClient, check_repo_role, current_identity

router = APIRouter(prefix="/api/v1", tags=["maintenance and lineage"])


class GcBody(BaseModel):
    dry_run: bool = False
    force: bool = False  # a grace shorter than the store's open_commit_max_age (see docs/cli.md)
    grace_seconds: float | None = Field(default=None, ge=0, le=10 * 365 * 86400)
    # S3 multipart uploads untouched this long are deleted too (default 24 h, as serve's).
    upload_max_age_seconds: float | None = Field(default=None, gt=0, le=10 * 365 * 86400)


@router.post("/admin/fsck", dependencies=[REQUIRE.admin])
def fsck(c: UserClient) -> dict[str, Any]:
    """Verify every reachable object and the metadata (the answer lists problems; it does not fail)."""
    return c.fsck().to_json()


@router.post("/admin/gc", dependencies=[REQUIRE.admin])
def gc(body: GcBody, c: UserClient) -> dict[str, Any]:
    """Delete unreferenced objects older than the grace period (default: the store's open_commit_max_age)."""
    grace = timedelta(seconds=body.grace_seconds) if body.grace_seconds is not None else None
    ages = body.upload_max_age_seconds
    age = timedelta(seconds=ages) if ages is not None else None
    return c.gc(dry_run=body.dry_run, grace=grace, force=body.force, upload_max_age=age).to_json()


@router.get("/repos/{repo}/lineage", dependencies=[REQUIRE.reader])
def lineage(
    repo: str,
    request: Request,
    c: UserClient,
    ref: str = "main",
    path: str | None = None,
    direction: Literal["upstream", "downstream"] = "upstream",
) -> dict[str, Any]:
    """Provenance or subvenance of a commit; needs ``reader`` on every repo the graph shows."""
    info = c.lineage(repo, ref, path, direction)
    me = current_identity(request)
    for repo_name in sorted({n.repo for n in info.nodes} | {info.root.repo}):
        check_repo_role(request, me, repo_name, "reader")
    return info.to_json()
