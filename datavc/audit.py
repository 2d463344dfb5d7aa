"""The audit log: one row per mutating server request and per failed authorization.

Rows name users, repos and branches by name, not by foreign key, so the log outlives
what it mentions. Nothing secret goes in: callers pass the route path and a result
message, never headers or bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from datavc.context import Context, now
from datavc.db.models import AuditEntry
from datavc.info import _Info

RESULT_MAX = 500


@dataclass(frozen=True, slots=True)
class AuditInfo(_Info):
    id: int
    at: datetime
    user: str | None
    action: str
    method: str
    path: str
    repo: str | None
    branch: str | None
    commit: str | None
    status: int
    result: str


def record(
    ctx: Context,
    *,
    user: str | None,
    action: str,
    method: str,
    path: str,
    status: int,
    result: str = "",
    repo: str | None = None,
    branch: str | None = None,
    commit: str | None = None,
) -> None:
    """Append one entry (its own transaction: the entry stays even when the request failed)."""
    with ctx.db.write() as s:
        s.add(
            AuditEntry(
                at=now(),
                user_name=user,
                action=action[:128],
                method=method[:16],
                path=path,
                repo=repo[:63] if repo else None,
                branch=branch[:63] if branch else None,
                commit_id=commit[:32] if commit else None,
                status=status,
                result=result[:RESULT_MAX],
            )
        )


def list_entries(
    ctx: Context,
    *,
    repo: str | None = None,
    user: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[AuditInfo]:
    """Entries, oldest first (or newest first), filtered by repo, user and time; at most ``limit``."""
    q = select(AuditEntry)
    if repo is not None:
        q = q.where(AuditEntry.repo == repo)
    if user is not None:
        q = q.where(AuditEntry.user_name == user)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    q = q.order_by(AuditEntry.id.desc() if newest_first else AuditEntry.id)
    if limit is not None:
        q = q.limit(limit)
    with ctx.db.read() as s:
        return [
            AuditInfo(
                e.id,
                e.at,
                e.user_name,
                e.action,
                e.method,
                e.path,
                e.repo,
                e.branch,
                e.commit_id,
                e.status,
                e.result,
            )
            for e in s.scalars(q)
        ]
