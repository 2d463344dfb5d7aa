"""What every gateway operation gets: the caller, a client acting as them, the parsed key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from datavc import accounts
from datavc.accounts import ROLE_RANK, Identity
from datavc.client import Client
from datavc.errors import BranchNotFound, NotFound
from datavc.server.s3.sigv4 import Auth
from datavc.server.s3.xmlio import S3Error


@dataclass
class S3Request:
    """One authenticated gateway request."""

    request: Request
    client: Client  # acts as ``ident`` (its name goes into commits)
    ident: Identity
    bucket: str
    key: str
    query: dict[str, str]
    auth: Auth | None
    signing_key: bytes | None
    upload_dir: Any
    body: AsyncIterator[bytes] | None = None

    @property
    def headers(self) -> Any:
        return self.request.headers

    def require(self, role: str, repo: str | None = None) -> None:
        """Raise AccessDenied unless the caller has ``role`` on ``repo`` (default: the bucket)."""
        repo = repo or self.bucket
        if self.ident.is_admin:
            return
        have = accounts.role_on(self.client.context, self.ident.user_id, repo)
        if have is None or ROLE_RANK[have] < ROLE_RANK[role]:
            has = f"has {have!r}" if have else "has no role"
            raise S3Error("AccessDenied", f"user {self.ident.name!r} needs role {role!r} on {repo!r} ({has})")

    def split_key(self, key: str | None = None) -> tuple[str, str]:
        """``(ref, path)`` of a key ``<ref>/<path>``; raises NoSuchKey when there is no path."""
        ref, _, path = (self.key if key is None else key).partition("/")
        if not ref or not path.strip("/"):
            raise S3Error("NoSuchKey", "keys are <branch|tag|commit>/<path>", resource=self.key)
        return ref, path

    def writable_branch(self, ref: str) -> str:
        """``ref`` if it is a branch of the bucket; AccessDenied for a tag or commit (read-only)."""
        try:
            self.client.inspect_branch(self.bucket, ref)
            return ref
        except BranchNotFound:
            pass
        try:
            self.client.inspect_commit(self.bucket, ref)
        except NotFound:
            raise S3Error(
                "NoSuchKey", f"repo {self.bucket!r} has no branch {ref!r} to write to", resource=self.key
            ) from None
        raise S3Error(
            "AccessDenied",
            f"{ref!r} names a tag or commit of {self.bucket!r}, which is read-only: write to a branch",
            resource=self.key,
        )

    def note(self, branch: str | None = None, commit: str | None = None, action: str | None = None) -> None:
        """Tell the audit log which branch and commit a write touched, and the S3 operation."""
        state = self.request.state
        if branch:
            state.audit_branch = branch
        if commit:
            state.audit_commit = commit
        if action:
            state.audit_action = action
