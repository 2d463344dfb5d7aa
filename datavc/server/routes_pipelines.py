"""Pipelines, jobs, datums and logs (``/api/v1/pipelines``, ``/api/v1/jobs``).

A pipeline is addressed by its name, which is also its output repo's name, so the
roles on that repo govern it: ``reader`` sees it and its jobs, ``writer`` starts and
stops it, ``owner`` deletes it and changes its spec. Creating one needs ``reader`` on
every input repo and nothing else; its creator becomes ``owner`` of the new output repo,
as creating a repo does. An output repo that already exists (a deleted pipeline's, say)
needs ``owner`` on it, so nobody takes over a repo by naming a pipeline after it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from datavc.pipelines import identity
from datavc.server.auth import (
    REQUIRE,
    BaseClient,
    CurrentUser,
    UserClient,
    check_repo_role,
    current_identity,
    visible,
)
from datavc.server.pages import DEFAULT_LIMIT, After, Limit, page

router = APIRouter(prefix="/api/v1", tags=["pipelines"])


class PipelineBody(BaseModel):
    spec: dict[str, Any]
    reprocess: bool = False


def _check_inputs(request: Request, spec: dict[str, Any]) -> Any:
    """Parse the spec; the caller needs ``reader`` on every input repo."""
    from datavc.pipelines.spec import PipelineSpec

    parsed = PipelineSpec.parse(spec)
    me = current_identity(request)
    for pfs in parsed.inputs():
        check_repo_role(request, me, pfs.repo, "reader")
    return parsed


@router.post("/pipelines", status_code=201, dependencies=[REQUIRE.authenticated])
def create_pipeline(
    body: PipelineBody, c: UserClient, base: BaseClient, me: CurrentUser, request: Request
) -> dict[str, Any]:
    """Create a pipeline and its output repo (its creator owns it); a job over its inputs' heads is queued.

    Needs ``reader`` on every input repo, and ``owner`` of the output repo if it exists already.
    """
    from datavc import accounts
    from datavc.errors import NotFound

    spec = _check_inputs(request, body.spec)
    request.state.audit_repo = spec.name
    try:
        base.inspect_repo(spec.name)
    except NotFound:
        pass
    else:
        check_repo_role(request, me, spec.name, "owner")
    info = c.create_pipeline(spec)
    if not me.is_admin:
        accounts.grant_role(base.context, info.output_repo, me.name, "owner")
    identity.sync(base.context, info.name, granted_by=me.name)  # bounded by the creator's roles
    return info.to_json()


@router.get("/pipelines", dependencies=[REQUIRE.authenticated])
def list_pipelines(
    c: UserClient, base: BaseClient, me: CurrentUser, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> dict[str, Any]:
    """The pipelines whose output repo the caller has a role on (all for an admin)."""
    items = visible(c.list_pipelines(), me, base, lambda p: p.output_repo)
    return page(items, limit, after, lambda p: p.name, lambda p: p.to_json())


@router.get("/pipelines/{repo}", dependencies=[REQUIRE.reader])
def inspect_pipeline(repo: str, c: UserClient) -> dict[str, Any]:
    return c.inspect_pipeline(repo).to_json()


@router.put("/pipelines/{repo}", dependencies=[REQUIRE.owner])
def update_pipeline(
    repo: str, body: PipelineBody, c: UserClient, base: BaseClient, me: CurrentUser, request: Request
) -> dict[str, Any]:
    """Replace the spec (a new version); ``reprocess`` runs every datum again. The pipeline's
    identity follows the new spec, bounded by the caller's roles."""
    spec = _check_inputs(request, body.spec)
    if spec.name != repo:
        from datavc.errors import InvalidArgument

        raise InvalidArgument(f"the spec names pipeline {spec.name!r}, not {repo!r}")
    info = c.update_pipeline(spec, reprocess=body.reprocess)
    identity.sync(base.context, info.name, granted_by=me.name)
    return info.to_json()


@router.delete("/pipelines/{repo}", status_code=204, dependencies=[REQUIRE.owner])
def delete_pipeline(repo: str, c: UserClient, base: BaseClient) -> None:
    """Delete the pipeline and its job records and identity; its output repo stays."""
    c.delete_pipeline(repo)
    identity.forget(base.context, repo)


@router.post("/pipelines/{repo}/stop", dependencies=[REQUIRE.writer])
def stop_pipeline(repo: str, c: UserClient) -> dict[str, Any]:
    return c.stop_pipeline(repo).to_json()


@router.post("/pipelines/{repo}/start", dependencies=[REQUIRE.writer])
def start_pipeline(repo: str, c: UserClient) -> dict[str, Any]:
    return c.start_pipeline(repo).to_json()


@router.get("/jobs", dependencies=[REQUIRE.authenticated])
def list_jobs(
    request: Request,
    c: UserClient,
    base: BaseClient,
    me: CurrentUser,
    pipeline: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> dict[str, Any]:
    """Jobs, newest first (of one pipeline, or of every pipeline the caller can read)."""
    if pipeline is not None:
        check_repo_role(request, me, pipeline, "reader")
    jobs = c.list_jobs(pipeline)
    if pipeline is None:
        jobs = visible(jobs, me, base, lambda j: j.pipeline)
    return page(jobs, limit, after, lambda j: j.id, lambda j: j.to_json())


def _job(request: Request, c: Any, job: str) -> Any:
    """The job, once the caller is known to have ``reader`` on its pipeline's output repo."""
    info = c.inspect_job(job)
    check_repo_role(request, current_identity(request), info.pipeline, "reader")
    return info


@router.get("/jobs/{job}", dependencies=[REQUIRE.authenticated])
def inspect_job(job: str, request: Request, c: UserClient) -> dict[str, Any]:
    """One job (a full id or a unique prefix of 6+ characters); needs reader on its pipeline."""
    result: dict[str, Any] = _job(request, c, job).to_json()
    return result


@router.get("/jobs/{job}/datums", dependencies=[REQUIRE.authenticated])
def list_datums(
    job: str, request: Request, c: UserClient, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> dict[str, Any]:
    info = _job(request, c, job)
    return page(c.list_datums(info.id), limit, after, lambda d: d.id, lambda d: d.to_json())


@router.get("/jobs/{job}/logs", dependencies=[REQUIRE.authenticated])
def job_logs(job: str, request: Request, c: UserClient, datum: str | None = None) -> dict[str, Any]:
    """``[datum id, logs of its last try]`` for each datum that ran (or the one ``datum`` prefix)."""
    info = _job(request, c, job)
    return {"items": [list(pair) for pair in c.job_logs(info.id, datum)], "next": None}


def _job_as_writer(request: Request, c: Any, job: str) -> Any:
    """The job, once the caller is known to have ``writer`` on its pipeline's output repo
    (who may stop and start the pipeline may stop and restart its jobs)."""
    info = c.inspect_job(job)
    check_repo_role(request, current_identity(request), info.pipeline, "writer")
    return info


@router.post("/jobs/{job}/stop", dependencies=[REQUIRE.authenticated])
def stop_job(job: str, request: Request, c: UserClient) -> dict[str, Any]:
    """End a created or running job as killed; needs writer on its pipeline."""
    result: dict[str, Any] = c.stop_job(_job_as_writer(request, c, job).id).to_json()
    return result


@router.post("/jobs/{job}/restart", dependencies=[REQUIRE.authenticated])
def restart_job(job: str, request: Request, c: UserClient) -> dict[str, Any]:
    """A new job over an ended job's input commits; needs writer on its pipeline."""
    result: dict[str, Any] = c.restart_job(_job_as_writer(request, c, job).id).to_json()
    return result


@router.post("/jobs/{job}/datums/{datum}/restart", dependencies=[REQUIRE.authenticated])
def restart_datum(job: str, datum: str, request: Request, c: UserClient) -> dict[str, Any]:
    """Run one datum of an ended job again, in a new job; needs writer on its pipeline."""
    result: dict[str, Any] = c.restart_datum(_job_as_writer(request, c, job).id, datum).to_json()
    return result


class SpecBody(BaseModel):
    spec: dict[str, Any]


@router.post("/datums/preview", dependencies=[REQUIRE.authenticated])
def preview_datums(body: SpecBody, request: Request, c: UserClient) -> dict[str, Any]:
    """The datums a spec would make over its inputs' heads now; needs reader on every input."""
    spec = _check_inputs(request, body.spec)
    return {"items": [d.to_json() for d in c.preview_datums(spec)], "next": None}


@router.get("/commit-sets/{commit_set}", dependencies=[REQUIRE.authenticated])
def inspect_commit_set(commit_set: str, c: UserClient, base: BaseClient, me: CurrentUser) -> dict[str, Any]:
    """A commit set's commits and jobs, limited to the repos the caller can read; ``pending``
    says whether any of its jobs (visible or not) is still to run."""
    from dataclasses import replace

    info = c.inspect_commit_set(commit_set)
    pending = not info.done
    info = replace(
        info,
        commits=tuple(visible(list(info.commits), me, base, lambda m: m.repo)),
        jobs=tuple(visible(list(info.jobs), me, base, lambda j: j.pipeline)),
    )
    return {**info.to_json(), "pending": pending}


WAIT_SLICE = 20.0  # seconds one request may block a server thread; the client asks again


@router.get("/repos/{repo}/wait", dependencies=[REQUIRE.reader])
def wait(
    repo: str, ref: str, c: UserClient, base: BaseClient, me: CurrentUser, timeout: float = 0.0
) -> dict[str, Any]:
    """Jobs triggered by commit ``ref``, transitively downstream: ``done`` once every one is.

    Blocks up to ``timeout`` seconds (at most 20; ask again for longer) while some still run.
    Lists only the jobs of pipelines the caller can read, though it waits for them all.
    """
    from datavc.errors import Conflict

    try:
        jobs = c.wait(repo, ref, timeout=max(0.0, min(timeout, WAIT_SLICE)))
        done = True
    except Conflict:
        jobs, done = [], False
    items = visible(jobs, me, base, lambda j: j.pipeline)
    return {"done": done, "items": [j.to_json() for j in items]}
