"""Per-pipeline identities: the service user a pipeline's workers act as through the server.

Why: a worker pod runs user code next to whatever credentials it holds. It therefore
holds no database or bucket keys, only a job token (:mod:`datavc.pipelines.job_tokens`) that acts
as its pipeline's identity: a user row named ``pipeline:<name>`` with ``reader`` on the
spec's input repos and ``writer`` on its output repo, nothing else. The roles are derived
from the spec every time a job token is minted, and when the spec is set through the
server, so they follow spec changes.

No privilege escalation through a spec: a pipeline gets a role on a repo only if the
user who last set its spec through the server (``granted_by``) has at least that role
there now (admins bound nothing). A spec set directly on the store (whoever does that
holds the database credentials) is bounded by nobody.

The identity's name contains ``:``, which no user name may contain, so nobody can create,
log in as, grant roles to or make API tokens for it through the user commands.
"""

from __future__ import annotations

import hashlib
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from datavc.context import Context, now
from datavc.db.models import NAME_LEN, Pipeline, PipelineIdentity, Repo, RepoRole, User
from datavc.errors import NotFound
from datavc.pipelines.spec import PipelineSpec

PREFIX = "pipeline:"
ROLE_RANK = {"reader": 1, "writer": 2, "owner": 3}


class _Keep:
    """``granted_by=KEEP``: leave the recorded granter as it is."""


KEEP: Final = _Keep()


def identity_name(pipeline: str) -> str:
    """``pipeline:<name>``, shortened with a hash when it would not fit a user name."""
    name = PREFIX + pipeline
    if len(name) <= NAME_LEN:
        return name
    digest = hashlib.sha256(pipeline.encode()).hexdigest()[:12]
    return f"{PREFIX}{pipeline[: NAME_LEN - len(PREFIX) - 13]}~{digest}"


def is_pipeline_identity(user: str) -> bool:
    return user.startswith(PREFIX)


def wanted_roles(spec: PipelineSpec) -> dict[str, str]:
    """What the spec asks for: ``reader`` on every input repo, ``writer`` on the output repo."""
    roles = {pfs.repo: "reader" for pfs in spec.inputs()}
    roles[spec.name] = "writer"
    return roles


def _bounded(s: Session, wanted: dict[str, str], granted_by: str | None) -> dict[str, str]:
    """``wanted`` cut down to what ``granted_by`` holds (no cut for None or an admin)."""
    if granted_by is None:
        return dict(wanted)
    user = s.scalars(select(User).where(User.name == granted_by)).one_or_none()
    if user is None:
        return {}  # the user who set the spec is gone: the pipeline holds nothing on their behalf
    if user.is_admin:
        return dict(wanted)
    have = dict(
        s.execute(
            select(Repo.name, RepoRole.role)
            .join(RepoRole, RepoRole.repo_id == Repo.id)
            .where(RepoRole.user_id == user.id, Repo.name.in_(list(wanted)))
        ).all()
    )
    out: dict[str, str] = {}
    for repo, role in wanted.items():
        held = have.get(repo)
        if held is not None:
            # Never more than the spec asks for, never more than the granter holds.
            out[repo] = role if ROLE_RANK[held] >= ROLE_RANK[role] else held
    return out


def sync(ctx: Context, pipeline: str, *, granted_by: str | _Keep | None = KEEP) -> dict[str, str]:
    """Create or update ``pipeline``'s identity and set its roles from its current spec.

    Args:
        granted_by: the user whose roles bound the pipeline's from now on (None: unbounded,
            a spec set directly on the store); ``KEEP`` keeps the recorded one.

    Returns:
        The roles the identity holds now, by repo.

    Raises:
        NotFound: no such pipeline.
    """
    with ctx.db.write() as s:
        p = s.scalars(select(Pipeline).where(Pipeline.name == pipeline)).one_or_none()
        if p is None:
            raise NotFound(f"pipeline {pipeline!r} not found")
        spec = PipelineSpec.parse(p.spec, fmt="json")
        link = s.get(PipelineIdentity, p.id)
        name = identity_name(pipeline)
        if link is None:
            user = s.scalars(select(User).where(User.name == name)).one_or_none()
            if user is None:  # a deleted pipeline's identity is reused by a new one of that name
                user = User(name=name, is_admin=False, created_at=now(), created_by=ctx.user)
                s.add(user)
                s.flush()
            link = PipelineIdentity(
                pipeline_id=p.id,
                user_id=user.id,
                granted_by=None if isinstance(granted_by, _Keep) else granted_by,
                updated_at=now(),
            )
            s.add(link)
        elif not isinstance(granted_by, _Keep):
            link.granted_by = granted_by
        link.updated_at = now()
        roles = _bounded(s, wanted_roles(spec), link.granted_by)
        s.execute(delete(RepoRole).where(RepoRole.user_id == link.user_id))
        repo_ids = dict(s.execute(select(Repo.name, Repo.id).where(Repo.name.in_(list(roles)))).all())
        for repo, role in sorted(roles.items()):
            if repo in repo_ids:
                s.add(
                    RepoRole(
                        repo_id=repo_ids[repo],
                        user_id=link.user_id,
                        role=role,
                        granted_at=now(),
                        granted_by=ctx.user,
                    )
                )
        return {r: role for r, role in roles.items() if r in repo_ids}


def user_id_of(ctx: Context, pipeline_id: int) -> int | None:
    """The user id of a pipeline's identity, or None when it has none yet."""
    with ctx.db.read() as s:
        link = s.get(PipelineIdentity, pipeline_id)
        return None if link is None else link.user_id


def forget(ctx: Context, pipeline: str) -> None:
    """Delete a pipeline's identity (its roles and job tokens go with it); no-op when it has none."""
    with ctx.db.write() as s:
        s.execute(delete(User).where(User.name == identity_name(pipeline)))
