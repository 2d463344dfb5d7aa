"""Users, API tokens and per-repo roles: who may do what through ``datavc serve``.

A token is ``dvc_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored: with that much entropy a fast hash cannot be brute-forced, and lookups stay one
indexed equality. The secret is returned once, by :func:`create_token`, and never again.

Roles: ``reader`` < ``writer`` < ``owner`` on one repo; ``is_admin`` users have every role
on every repo and manage users. Direct (embedded) clients hold the database credentials
and so are not subject to roles: these functions serve the server and ``datavc auth``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datavc.context import Context, now
from datavc.db.models import ROLES, ApiToken, Repo, RepoRole, User
from datavc.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from datavc.info import _Info
from datavc.names import check_name
from datavc.repos import get_repo

if TYPE_CHECKING:
    from datavc.audit import AuditInfo

TOKEN_PREFIX = "dvc_"
TOKEN_BYTES = 32  # 256 bits
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token: no write per request."""

ROLE_RANK = {name: rank for rank, name in enumerate(ROLES, start=1)}


class UserNotFound(NotFound):
    pass


@dataclass(frozen=True, slots=True)
class UserInfo(_Info):
    name: str
    is_admin: bool
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class TokenInfo(_Info):
    """A token's public facts; ``secret`` is set only in the answer to its creation."""

    id: str
    user: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class RoleInfo(_Info):
    repo: str
    user: str
    role: str
    granted_at: datetime
    granted_by: str


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is from (the server's view of an authenticated token)."""

    user_id: int
    name: str
    is_admin: bool
    token_id: str
    job_id: str | None = None  # set for a job token (datavc.pipelines.job_tokens): its scope is that job


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise InvalidArgument(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def _user(s: Session, name: str) -> User:
    check_name(name, "user")
    user = s.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise UserNotFound(f"user {name!r} not found")
    return user


def _user_info(u: User) -> UserInfo:
    return UserInfo(u.name, u.is_admin, u.created_at, u.created_by)


def _token_info(t: ApiToken, user: str, secret: str | None = None) -> TokenInfo:
    return TokenInfo(t.id, user, t.name, t.created_at, t.expires_at, t.revoked_at, t.last_used_at, secret)


# ----- users -----------------------------------------------------------------------


def create_user(ctx: Context, name: str, *, admin: bool = False) -> UserInfo:
    """Create a user. Raises AlreadyExists when the name is taken."""
    check_name(name, "user")
    try:
        with ctx.db.write() as s:
            if s.scalars(select(User.id).where(User.name == name)).first() is not None:
                raise AlreadyExists(f"user {name!r} already exists")
            user = User(name=name, is_admin=admin, created_at=now(), created_by=ctx.user)
            s.add(user)
            s.flush()
            return _user_info(user)
    except IntegrityError as err:
        raise AlreadyExists(f"user {name!r} already exists") from err


def list_users(ctx: Context) -> list[UserInfo]:
    with ctx.db.read() as s:
        return [_user_info(u) for u in s.scalars(select(User).order_by(User.name))]


def count_users(ctx: Context) -> int:
    with ctx.db.read() as s:
        return len(list(s.scalars(select(User.id))))


def inspect_user(ctx: Context, name: str) -> UserInfo:
    with ctx.db.read() as s:
        return _user_info(_user(s, name))


def delete_user(ctx: Context, name: str) -> None:
    """Delete a user with their tokens and roles (the audit log keeps their name)."""
    with ctx.db.write() as s:
        s.delete(_user(s, name))


# ----- tokens ----------------------------------------------------------------------


def create_token(
    ctx: Context, user: str, *, name: str = "", expires_in: timedelta | None = None
) -> TokenInfo:
    """A new token for ``user``; the returned ``secret`` is the only copy there will ever be."""
    if name:
        check_name(name, "token name")
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidArgument("a token's lifetime must be positive")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    with ctx.db.write() as s:
        u = _user(s, user)
        created = now()
        tok = ApiToken(
            id=secrets.token_hex(8),
            user_id=u.id,
            token_hash=hash_token(secret),
            name=name,
            created_at=created,
            expires_at=created + expires_in if expires_in is not None else None,
        )
        s.add(tok)
        s.flush()
        return _token_info(tok, u.name, secret)


def list_tokens(ctx: Context, user: str | None = None) -> list[TokenInfo]:
    """Tokens (of one user, or all), oldest first; never their secrets."""
    with ctx.db.read() as s:
        q = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
        if user is not None:
            q = q.where(User.id == _user(s, user).id)
        return [_token_info(t, n) for t, n in s.execute(q.order_by(ApiToken.created_at, ApiToken.id))]


def inspect_token(ctx: Context, token_id: str) -> TokenInfo:
    with ctx.db.read() as s:
        row = s.execute(
            select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).where(ApiToken.id == token_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"token {token_id!r} not found")
        return _token_info(row[0], row[1])


def revoke_token(ctx: Context, token_id: str) -> TokenInfo:
    """Revoke a token now (idempotent: a revoked token keeps its first revocation time)."""
    with ctx.db.write() as s:
        row = s.execute(
            select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).where(ApiToken.id == token_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"token {token_id!r} not found")
        tok, user = row
        if tok.revoked_at is None:
            tok.revoked_at = now()
        return _token_info(tok, user)


def authenticate(ctx: Context, secret: str | None) -> Identity:
    """The identity a bearer token stands for.

    Raises:
        Unauthenticated: no token, or one that is unknown, expired or revoked. The message
            never contains the token.
    """
    if not secret:
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
    if not secret.startswith(TOKEN_PREFIX):
        raise Unauthenticated("invalid token")
    digest = hash_token(secret)
    at = now()
    with ctx.db.read() as s:
        row = s.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest)
        ).one_or_none()
        if row is None:
            raise Unauthenticated("invalid token")
        tok, user = row
        if tok.revoked_at is not None:
            raise Unauthenticated(f"token {tok.id} was revoked")
        if tok.expires_at is not None and tok.expires_at <= at:
            raise Unauthenticated(f"token {tok.id} expired at {tok.expires_at.isoformat()}")
        stale = tok.last_used_at is None or at - tok.last_used_at >= LAST_USED_RESOLUTION
        identity = Identity(user.id, user.name, user.is_admin, tok.id)
    if stale:
        with ctx.db.write() as s:
            row_tok = s.get(ApiToken, identity.token_id)
            if row_tok is not None:
                row_tok.last_used_at = at
    return identity


# ----- roles -----------------------------------------------------------------------


def grant_role(ctx: Context, repo: str, user: str, role: str) -> RoleInfo:
    """Give ``user`` exactly ``role`` on ``repo`` (replacing any role they had there)."""
    check_role(role)
    with ctx.db.write() as s:
        r, u = get_repo(s, repo), _user(s, user)
        row = s.get(RepoRole, (r.id, u.id))
        if row is None:
            row = RepoRole(repo_id=r.id, user_id=u.id, role=role, granted_at=now(), granted_by=ctx.user)
            s.add(row)
        else:
            row.role, row.granted_at, row.granted_by = role, now(), ctx.user
        s.flush()
        return RoleInfo(r.name, u.name, row.role, row.granted_at, row.granted_by)


def revoke_role(ctx: Context, repo: str, user: str) -> None:
    """Remove ``user``'s role on ``repo``. Raises NotFound when they had none."""
    with ctx.db.write() as s:
        r, u = get_repo(s, repo), _user(s, user)
        row = s.get(RepoRole, (r.id, u.id))
        if row is None:
            raise NotFound(f"user {user!r} has no role on repo {repo!r}")
        s.delete(row)


def list_roles(ctx: Context, repo: str | None = None, user: str | None = None) -> list[RoleInfo]:
    """Role grants, by repo then user; filtered to one repo and/or one user."""
    with ctx.db.read() as s:
        q = (
            select(RepoRole, Repo.name, User.name)
            .join(Repo, Repo.id == RepoRole.repo_id)
            .join(User, User.id == RepoRole.user_id)
        )
        if repo is not None:
            q = q.where(Repo.id == get_repo(s, repo).id)
        if user is not None:
            q = q.where(User.id == _user(s, user).id)
        return [
            RoleInfo(rn, un, rr.role, rr.granted_at, rr.granted_by)
            for rr, rn, un in s.execute(q.order_by(Repo.name, User.name))
        ]


def role_on(ctx: Context, user_id: int, repo: str) -> str | None:
    """The role ``user_id`` has on ``repo``, or None (also when the repo does not exist)."""
    with ctx.db.read() as s:
        return s.scalars(
            select(RepoRole.role)
            .join(Repo, Repo.id == RepoRole.repo_id)
            .where(Repo.name == repo, RepoRole.user_id == user_id)
        ).one_or_none()


def readable_repos(ctx: Context, user_id: int) -> set[str]:
    """Names of the repos ``user_id`` has any role on."""
    with ctx.db.read() as s:
        return set(
            s.scalars(
                select(Repo.name)
                .join(RepoRole, RepoRole.repo_id == Repo.id)
                .where(RepoRole.user_id == user_id)
            )
        )


class Accounts:
    """The account operations of ``RemoteClient`` (same names), run directly on a store.

    Whoever opens the store directly holds its database credentials, so no role applies.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def whoami(self) -> dict[str, object]:
        return {"user": self._ctx.user, "admin": True, "token": None, "roles": {}, "direct": True}

    def create_user(self, name: str, *, admin: bool = False) -> UserInfo:
        return create_user(self._ctx, name, admin=admin)

    def list_users(self) -> list[UserInfo]:
        return list_users(self._ctx)

    def delete_user(self, name: str) -> None:
        delete_user(self._ctx, name)

    def create_token(
        self, user: str | None = None, *, name: str = "", expires_in: timedelta | None = None
    ) -> TokenInfo:
        if user is None:
            raise InvalidArgument("name the token's user (--user) when working on a store directly")
        return create_token(self._ctx, user, name=name, expires_in=expires_in)

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        return list_tokens(self._ctx, None if user in (None, "*") else user)

    def revoke_token(self, token_id: str) -> TokenInfo:
        return revoke_token(self._ctx, token_id)

    def grant_role(self, repo: str, user: str, role: str) -> RoleInfo:
        return grant_role(self._ctx, repo, user, role)

    def revoke_role(self, repo: str, user: str) -> None:
        revoke_role(self._ctx, repo, user)

    def list_roles(self, repo: str) -> list[RoleInfo]:
        return list_roles(self._ctx, repo=repo)

    def audit(
        self, *, repo: str | None = None, user: str | None = None, since: datetime | None = None
    ) -> list[AuditInfo]:
        from datavc import audit

        return audit.list_entries(self._ctx, repo=repo, user=user, since=since)
