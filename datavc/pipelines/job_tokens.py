"""Job tokens: what a worker pod holds instead of database and bucket credentials.

When the scheduler launches a job on Kubernetes it mints a token for it (``dvj_`` + 256
random bits; only the SHA-256 is stored, as for API tokens) and hands it to the pods in
a per-job Secret. The token acts as the pipeline's identity (:mod:`datavc.pipelines.identity`)
and, narrower still, only within its job:

- the job's input repos, read-only and only at the job's input commits (a route whose
  ``{ref}`` is exactly one of them); no listing of other refs, no log, no lineage;
- the job's output repo, with the identity's role there (``writer``);
- the worker routes of its own job (``/api/v1/jobs/{job}/work...``);
- nothing else: no user, token, pipeline or admin route.

It expires at the job's deadline (``lifetime``) and is revoked when the job ends; a
token of a job that has finished, or was deleted, is refused too.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from datavc.accounts import Identity, hash_token
from datavc.context import Context, now
from datavc.db.models import Job, JobToken, Pipeline, User
from datavc.errors import Forbidden, InvalidArgument, JobNotFound, Unauthenticated
from datavc.pipelines import identity
from datavc.pipelines.spec import PipelineSpec

PREFIX = "dvj_"
TOKEN_BYTES = 32  # 256 bits
MAX_LIFETIME = 24 * 3600.0
"""Default upper bound of a job token's life, in seconds (executor setting ``job_token_max``)."""
MARGIN = 300.0
"""Seconds added to the datums' own time: pods must start, stage inputs and upload outputs."""
FINISHED = ("success", "failure", "killed")


@dataclass(frozen=True, slots=True)
class JobTokenInfo:
    """A minted token; ``secret`` is the only copy there will ever be (never logged)."""

    id: str
    job_id: str
    user: str
    expires_at: datetime
    secret: str

    def __repr__(self) -> str:  # keep the secret out of reprs and tracebacks
        return f"JobTokenInfo(id={self.id!r}, job_id={self.job_id!r}, user={self.user!r})"


@dataclass(frozen=True, slots=True)
class Scope:
    """What one job's token may touch: input repo -> its input commits; the output repo."""

    job_id: str
    inputs: dict[str, frozenset[str]]
    output: str


def lifetime(spec: PipelineSpec, datums: int, max_seconds: float = MAX_LIFETIME) -> timedelta:
    """The job's deadline from now: every try of every datum at its timeout (or the job's
    timeout when shorter), plus ``MARGIN``, at most ``max_seconds``."""
    if max_seconds <= 0:
        raise InvalidArgument("the job token lifetime bound must be positive")
    seconds = spec.datum_timeout * spec.datum_tries * max(1, math.ceil(datums / max(1, spec.parallelism)))
    if spec.job_timeout:
        seconds = min(seconds, float(spec.job_timeout))
    return timedelta(seconds=min(seconds + MARGIN, max_seconds))


def mint(ctx: Context, job_id: str, life: timedelta) -> JobTokenInfo:
    """A new token for ``job_id``, acting as its pipeline's identity (created or refreshed from
    the spec first).

    Raises:
        JobNotFound: no such job.
    """
    with ctx.db.read() as s:
        row = s.execute(
            select(Pipeline.name).join(Job, Job.pipeline_id == Pipeline.id).where(Job.id == job_id)
        ).one_or_none()
    if row is None:
        raise JobNotFound(job_id)
    identity.sync(ctx, row[0])
    secret = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    with ctx.db.write() as s:
        user = s.scalars(select(User).where(User.name == identity.identity_name(row[0]))).one()
        created = now()
        tok = JobToken(
            id=secrets.token_hex(8),
            job_id=job_id,
            user_id=user.id,
            token_hash=hash_token(secret),
            created_at=created,
            expires_at=created + life,
        )
        s.add(tok)
        s.flush()
        return JobTokenInfo(tok.id, job_id, user.name, tok.expires_at, secret)


def revoke_job(ctx: Context, job_id: str) -> int:
    """Revoke every live token of ``job_id`` (when the job ends); returns how many."""
    with ctx.db.write() as s:
        result = s.execute(
            update(JobToken)
            .where(JobToken.job_id == job_id, JobToken.revoked_at.is_(None))
            .values(revoked_at=now())
        )
        return int(getattr(result, "rowcount", 0) or 0)


def authenticate(ctx: Context, secret: str) -> Identity:
    """The identity a job token stands for (``job_id`` set).

    Raises:
        Unauthenticated: unknown, expired or revoked, or its job has ended. The message
            never contains the token.
    """
    at = now()
    with ctx.db.read() as s:
        row = s.execute(
            select(JobToken, User, Job.state)
            .join(User, User.id == JobToken.user_id)
            .join(Job, Job.id == JobToken.job_id)
            .where(JobToken.token_hash == hash_token(secret))
        ).one_or_none()
        if row is None:
            raise Unauthenticated("invalid token")
        tok, user, state = row
        if tok.revoked_at is not None:
            raise Unauthenticated(f"job token {tok.id} was revoked")
        if tok.expires_at <= at:
            raise Unauthenticated(f"job token {tok.id} expired at {tok.expires_at.isoformat()}")
        if state in FINISHED:
            raise Unauthenticated(f"job token {tok.id}: its job has ended")
        return Identity(user.id, user.name, False, tok.id, job_id=tok.job_id)


def scope(ctx: Context, job_id: str) -> Scope:
    """What a token of ``job_id`` may touch (from the job's own spec and input commits)."""
    with ctx.db.read() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise Unauthenticated("job token: its job no longer exists")
        spec = PipelineSpec.parse(job.spec, fmt="json")
        commits: dict[str, str | None] = json.loads(job.inputs)
    inputs: dict[str, set[str]] = {}
    for pfs in spec.inputs():
        cid = commits.get(pfs.name)
        inputs.setdefault(pfs.repo, set())
        if cid:
            inputs[pfs.repo].add(cid)
    return Scope(job_id, {r: frozenset(c) for r, c in inputs.items()}, spec.name)


def check_scope(ctx: Context, ident: Identity, repo: str, role: str, ref: str | None) -> None:
    """Refuse (Forbidden) what a job token's scope does not cover; the identity's own roles
    are checked beside this, as for any user."""
    assert ident.job_id is not None
    sc = scope(ctx, ident.job_id)
    if repo == sc.output:
        return
    if repo not in sc.inputs:
        raise Forbidden(
            f"the token of job {sc.job_id[:12]} needs repo {repo!r} to be its input or output; it is neither"
        )
    if role != "reader":
        raise Forbidden(
            f"the token of job {sc.job_id[:12]} needs role {role!r} on its input {repo!r}: it only reads it"
        )
    if ref is None or ref not in sc.inputs[repo]:
        raise Forbidden(
            f"the token of job {sc.job_id[:12]} needs a read of input {repo!r} "
            "at one of the job's input commits"
        )
