"""Pages: the pipeline DAG (live job states), one pipeline (start/stop), one job, a datum's logs.

The DAG page polls ``/pipelines/state.json`` (every second) and recolours the
graph and the table in place: plain polling needs no long-lived connection per tab
and passes through any proxy.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from datavc.info import JobInfo, PipelineInfo
from datavc.server.auth import base_client, current_identity, user_client, visible
from datavc.server.console.common import PAGE, after_key, can, need_reader
from datavc.server.console.render import page, script_json
from datavc.server.console.sessions import CSRF, REQUIRE_UI

router = APIRouter()

JOBS_SHOWN = 20


def _visible_pipelines(request: Request) -> list[PipelineInfo]:
    c = user_client(request)
    return visible(
        c.list_pipelines(), current_identity(request), base_client(request), lambda p: p.output_repo
    )


def graph(pipelines: list[PipelineInfo]) -> dict[str, Any]:
    """Cytoscape elements: input repo -> pipeline -> output repo, pipelines carrying their job state."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []

    def repo_node(name: str) -> str:
        nid = f"repo:{name}"
        nodes.setdefault(nid, {"id": nid, "label": name, "kind": "repo", "href": f"/repos/{quote(name)}"})
        return nid

    for p in pipelines:
        pid = f"pipeline:{p.name}"
        nodes[pid] = {
            "id": pid,
            "label": p.name,
            "kind": "pipeline",
            "state": p.last_job_state or "none",
            "href": f"/pipelines/{quote(p.name)}",
        }
        for inp in p.inputs:
            src = repo_node(inp.split("@", 1)[0])
            edges.append({"id": f"{src}->{pid}", "source": src, "target": pid})
        out = repo_node(p.output_repo)
        edges.append({"id": f"{pid}->{out}", "source": pid, "target": out})
    return {"nodes": [{"data": n} for n in nodes.values()], "edges": [{"data": e} for e in edges]}


def states(pipelines: list[PipelineInfo]) -> dict[str, Any]:
    return {
        p.name: {"state": p.state, "job": p.last_job, "job_state": p.last_job_state or "none"}
        for p in pipelines
    }


@router.get("/pipelines", dependencies=[REQUIRE_UI.authenticated])
def pipelines_page(request: Request) -> Response:
    """The DAG of repos and pipelines, coloured by each pipeline's latest job."""
    pls = _visible_pipelines(request)
    return page(
        request,
        "pipelines.html",
        pipelines=pls,
        graph_json=script_json(graph(pls)),
        title="Pipelines",
    )


@router.get("/pipelines/state.json", dependencies=[REQUIRE_UI.authenticated])
def pipelines_state(request: Request) -> Response:
    """Each visible pipeline's state and latest job (what the DAG page polls)."""
    return JSONResponse(states(_visible_pipelines(request)), headers={"Cache-Control": "no-store"})


@router.get("/pipelines/{repo}", dependencies=[REQUIRE_UI.reader])
def pipeline_page(repo: str, request: Request) -> Response:
    """One pipeline: spec, state, recent jobs; start/stop for writers."""
    c = user_client(request)
    info = c.inspect_pipeline(repo)
    jobs = c.list_jobs(repo, JOBS_SHOWN)
    return page(
        request,
        "pipeline.html",
        pipeline=info,
        jobs=jobs,
        spec=json.dumps(info.spec, indent=2),
        can_write=can(request, repo, "writer"),
        title=f"pipeline {repo}",
    )


def _set_state(repo: str, request: Request, running: bool) -> Response:
    c = user_client(request)
    if running:
        c.start_pipeline(repo)
    else:
        c.stop_pipeline(repo)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/pipelines/{quote(repo)}", status_code=303)


@router.post("/pipelines/{repo}/stop", dependencies=[REQUIRE_UI.writer, CSRF])
def stop_pipeline(repo: str, request: Request) -> Response:
    """Stop the pipeline: new commits to its inputs queue no jobs."""
    return _set_state(repo, request, running=False)


@router.post("/pipelines/{repo}/start", dependencies=[REQUIRE_UI.writer, CSRF])
def start_pipeline(repo: str, request: Request) -> Response:
    return _set_state(repo, request, running=True)


def _job(request: Request, job: str) -> JobInfo:
    info = user_client(request).inspect_job(job)
    need_reader(request, info.pipeline)
    return info


def input_repos(pipeline: PipelineInfo) -> dict[str, str]:
    """Input name -> repo, from the pipeline's spec."""
    from datavc.pipelines.spec import PipelineSpec

    return {pfs.name: pfs.repo for pfs in PipelineSpec.parse(pipeline.spec).inputs()}


@router.get("/jobs/{job}", dependencies=[REQUIRE_UI.authenticated])
def job_page(job: str, request: Request, after: str | None = None) -> Response:
    """A job: state, inputs, output commit, and its datums (paged) with state, tries and time."""
    c = user_client(request)
    info = _job(request, job)
    repos = input_repos(c.inspect_pipeline(info.pipeline))
    datums, nxt = after_key(c.list_datums(info.id), after, lambda d: d.id, PAGE * 2)
    return page(
        request,
        "job.html",
        job=info,
        inputs=[(name, repos.get(name, name), commit) for name, commit in info.inputs.items()],
        datums=datums,
        next=nxt,
        title=f"job {info.id[:10]}",
    )


@router.get("/jobs/{job}/logs/{datum}", dependencies=[REQUIRE_UI.authenticated])
def datum_logs(job: str, datum: str, request: Request) -> Response:
    """The logs of one datum's last try."""
    c = user_client(request)
    info = _job(request, job)
    logs = list(c.job_logs(info.id, datum))
    return page(request, "logs.html", job=info, datum=datum, logs=logs, title=f"logs of datum {datum[:10]}")
