"""S3 gateway access keys: one (access key id, secret) pair per key, issued to a datavc user.

SigV4 is an HMAC: the server must hold each secret to check a signature, so a one-way
hash (as for API tokens) cannot be used. Secrets are therefore never stored at all: a
key's secret is ``HMAC-SHA256(master key, access key id)``, recomputed when a request
arrives. The database holds only the id, its user and its dates, so a copy of the
database gives nothing to sign with; the master key lives outside it
(``DATAVC_S3_MASTER_KEY``, else a 0600 file ``s3-master-key`` in the store's home).
Changing the master key invalidates every key at once (a "revoke all").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from datavc.accounts import Identity, _user
from datavc.context import Context, now
from datavc.db.models import S3Key, User
from datavc.errors import InvalidArgument, NotFound
from datavc.info import _Info
from datavc.names import check_name

MASTER_ENV = "DATAVC_S3_MASTER_KEY"
MASTER_FILE = "s3-master-key"
KEY_ID_PREFIX = "DVC"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class S3KeyInfo(_Info):
    """A key's public facts; ``secret`` is set only in the answer to its creation."""

    access_key_id: str
    user: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = None


def master_key(ctx: Context) -> bytes:
    """The S3 master key: ``$DATAVC_S3_MASTER_KEY``, else the store's 0600 file (made on first use).

    Raises:
        InvalidArgument: no environment variable and no store home to keep the file in.
    """
    env = os.environ.get(MASTER_ENV)
    if env:
        if len(env) < 32:
            raise InvalidArgument(f"{MASTER_ENV} must be at least 32 characters long")
        return env.encode("utf-8")
    if not ctx.home:
        raise InvalidArgument(f"S3 keys need a master key: set {MASTER_ENV} (at least 32 random characters)")
    path = Path(ctx.home) / MASTER_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()  # another process made it first
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
        f.flush()
        os.fsync(f.fileno())
    return value.encode("utf-8")


def derive_secret(master: bytes, access_key_id: str) -> str:
    """The secret of ``access_key_id``: 40 URL-safe characters (240 bits), like an AWS secret."""
    mac = hmac.new(master, b"datavc-s3-key:" + access_key_id.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii")[:40]


def _info(k: S3Key, user: str, secret: str | None = None) -> S3KeyInfo:
    return S3KeyInfo(k.id, user, k.name, k.created_at, k.revoked_at, secret)


def create_key(ctx: Context, user: str, *, name: str = "") -> S3KeyInfo:
    """A new access key for ``user``; the returned ``secret`` is shown once (it can be re-derived
    only with the master key, which no API exposes)."""
    if name:
        check_name(name, "key name")
    master = master_key(ctx)
    key_id = KEY_ID_PREFIX + "".join(secrets.choice(_B32) for _ in range(17))
    with ctx.db.write() as s:
        u = _user(s, user)
        k = S3Key(id=key_id, user_id=u.id, name=name, created_at=now())
        s.add(k)
        s.flush()
        return _info(k, u.name, derive_secret(master, key_id))


def list_keys(ctx: Context, user: str | None = None) -> list[S3KeyInfo]:
    """Keys (of one user, or all), oldest first; never their secrets."""
    with ctx.db.read() as s:
        q = select(S3Key, User.name).join(User, User.id == S3Key.user_id)
        if user is not None:
            q = q.where(User.id == _user(s, user).id)
        return [_info(k, n) for k, n in s.execute(q.order_by(S3Key.created_at, S3Key.id))]


def key_owner(ctx: Context, access_key_id: str) -> str:
    """The user name a key belongs to. Raises NotFound."""
    with ctx.db.read() as s:
        row = s.execute(
            select(User.name).join(S3Key, S3Key.user_id == User.id).where(S3Key.id == access_key_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"S3 key {access_key_id!r} not found")
        return str(row[0])


def revoke_key(ctx: Context, access_key_id: str) -> S3KeyInfo:
    """Revoke a key now (idempotent: a revoked key keeps its first revocation time)."""
    with ctx.db.write() as s:
        row = s.execute(
            select(S3Key, User.name).join(User, User.id == S3Key.user_id).where(S3Key.id == access_key_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"S3 key {access_key_id!r} not found")
        k, user = row
        if k.revoked_at is None:
            k.revoked_at = now()
        return _info(k, user)


def lookup(ctx: Context, access_key_id: str, master: bytes) -> tuple[Identity, str] | None:
    """The identity and secret of a live key; None for an unknown or revoked key."""
    if len(access_key_id) > 32:
        return None
    with ctx.db.read() as s:
        row = s.execute(
            select(S3Key, User).join(User, User.id == S3Key.user_id).where(S3Key.id == access_key_id)
        ).one_or_none()
        if row is None or row[0].revoked_at is not None:
            return None
        k, u = row
        ident = Identity(u.id, u.name, u.is_admin, "s3:" + k.id)
    return ident, derive_secret(master, access_key_id)


class S3Keys:
    """The S3 key operations of ``RemoteClient`` (same names), run directly on a store."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def create_s3_key(self, user: str | None = None, *, name: str = "") -> S3KeyInfo:
        if user is None:
            raise InvalidArgument("name the key's user (--user) when working on a store directly")
        return create_key(self._ctx, user, name=name)

    def list_s3_keys(self, user: str | None = None) -> list[S3KeyInfo]:
        return list_keys(self._ctx, None if user in (None, "*") else user)

    def revoke_s3_key(self, access_key_id: str) -> S3KeyInfo:
        return revoke_key(self._ctx, access_key_id)
