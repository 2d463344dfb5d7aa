"""Authentication (bearer tokens) and authorization declared per route.

Every route names what it needs with one of the dependencies below, e.g.
``dependencies=[REQUIRE.writer]``: the role needed on the repo named by the path's
``{repo}``. :data:`PERMISSIONS` maps each such dependency to its :class:`Permission`;
``create_app`` refuses to build an app with a route that declares none (and a test
walks the route table to build the authorization matrix from it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from datavc import accounts
from datavc.accounts import ROLE_RANK, Identity
from datavc.client import Client
from datavc.context import Context
from datavc.errors import Forbidden

Kind = Literal["public", "authenticated", "admin", "repo", "job"]


@dataclass(frozen=True)
class Permission:
    """What a route needs: nothing, any valid token, admin, a role on the path's repo, or
    (``job``) the token of the path's ``{job}`` (worker routes, :mod:`datavc.server.routes_worker`)."""

    kind: Kind
    role: str | None = None

    def __str__(self) -> str:
        if self.kind == "repo":
            return f"role {self.role!r} on the repo"
        return self.kind


PERMISSIONS: dict[Callable[..., object], Permission] = {}
JOB_TOKEN_PREFIX = "dvj_"  # datavc.pipelines.job_tokens.PREFIX, without importing pipelines here


def base_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def identify(request: Request) -> Identity:
    """The request's identity (cached on ``request.state``). Raises Unauthenticated."""
    ident: Identity | None = getattr(request.state, "identity", None)
    if ident is None:
        secret = bearer(request)
        if secret and secret.startswith(JOB_TOKEN_PREFIX):  # a worker pod's (datavc.pipelines.job_tokens)
            from datavc.pipelines import job_tokens

            ident = job_tokens.authenticate(base_client(request).context, secret)
        else:
            ident = accounts.authenticate(base_client(request).context, secret)
        request.state.identity = ident
    return ident


def check_repo_role(request: Request, ident: Identity, repo: str, role: str) -> None:
    """Raise Forbidden unless ``ident`` has at least ``role`` on ``repo`` (admins have every role).

    A job token is also held to its job's scope (``datavc.job_tokens.check_scope``): its
    input repos only at the input commit the path's ``{ref}`` names, and its output repo.
    """
    if ident.is_admin:
        return
    if ident.job_id is not None:
        from datavc.pipelines import job_tokens

        ref = request.path_params.get("ref")
        job_tokens.check_scope(base_client(request).context, ident, repo, role, ref)
    have = accounts.role_on(base_client(request).context, ident.user_id, repo)
    if have is None or ROLE_RANK[have] < ROLE_RANK[role]:
        has = f"has {have!r}" if have else "has no role"
        raise Forbidden(f"user {ident.name!r} needs role {role!r} on repo {repo!r} ({has})")


def _dependency(
    perm: Permission, identify_with: Callable[[Request], Identity] = identify
) -> Callable[..., object]:
    async def check(request: Request) -> None:
        if perm.kind == "public":
            return
        ident = await run_in_threadpool(identify_with, request)
        if perm.kind == "job":
            if ident.job_id is None or ident.job_id != request.path_params.get("job"):
                raise Forbidden(f"{ident.name!r} needs the token of job {request.path_params.get('job')!r}")
            return
        if ident.job_id is not None and perm.kind != "repo":
            raise Forbidden(f"a job token ({ident.name!r}) needs a user token for this request")
        if perm.kind == "admin" and not ident.is_admin:
            raise Forbidden(f"user {ident.name!r} needs the admin permission")
        if perm.kind == "repo":
            assert perm.role is not None
            repo = request.path_params["repo"]
            await run_in_threadpool(check_repo_role, request, ident, repo, perm.role)

    check.__name__ = f"require_{perm.role or perm.kind}"
    PERMISSIONS[check] = perm
    return check


class Require:
    """``REQUIRE.reader`` etc.: the ``Depends`` objects routes declare.

    ``identify_with`` finds the caller: the bearer token for the API; the console builds
    its own set that reads its session cookie, with the same permissions and checks.
    """

    def __init__(self, identify_with: Callable[[Request], Identity] = identify) -> None:
        def dep(perm: Permission) -> Any:
            return Depends(_dependency(perm, identify_with))

        self.public = dep(Permission("public"))
        self.authenticated = dep(Permission("authenticated"))
        self.admin = dep(Permission("admin"))
        self.reader = dep(Permission("repo", "reader"))
        self.writer = dep(Permission("repo", "writer"))
        self.owner = dep(Permission("repo", "owner"))
        self.job = dep(Permission("job"))


REQUIRE = Require()


def current_identity(request: Request) -> Identity:
    """The identity the route's permission dependency established."""
    ident: Identity = request.state.identity
    return ident


def user_client(request: Request) -> Client:
    """A ``Client`` acting as the request's user: same database and object store, its own name."""
    base = base_client(request)
    ident = current_identity(request)
    ctx = Context(base.context.db, base.context.store, user=ident.name, home=base.context.home)
    ctx.executor_settings = base.context.executor_settings
    return Client(base.config, ctx)


def require_owner_to_force(request: Request, repo: str, force: bool) -> None:
    """``force`` bypasses branch protection: only the repo's owner (or an admin) may ask for it."""
    if force:
        check_repo_role(request, current_identity(request), repo, "owner")


CurrentUser = Annotated[Identity, Depends(current_identity)]
UserClient = Annotated[Client, Depends(user_client)]
BaseClient = Annotated[Client, Depends(base_client)]


_T = TypeVar("_T")


def visible(items: list[_T], me: Identity, base: Client, repo_of: Callable[[_T], str]) -> list[_T]:
    """The items of a listing whose repo the caller has a role on (every item for an admin)."""
    if me.is_admin:
        return items
    mine = accounts.readable_repos(base.context, me.user_id)
    return [it for it in items if repo_of(it) in mine]


def note_commit(request: Request, commit: str | None, branch: str | None = None) -> None:
    """Tell the audit log which commit (and branch) a request made or changed."""
    if commit:
        request.state.audit_commit = commit
    if branch:
        request.state.audit_branch = branch
