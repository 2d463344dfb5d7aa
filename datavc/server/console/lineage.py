"""Page: the lineage of a commit or of one file, upstream or downstream, every node a link.

For a file, the page also names the datum that wrote it and the input files it came
from, each linked to its own page (and from there to its own lineage), so a broken
output can be followed back, file by file, to the input that changed.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from datavc.errors import NotFound
from datavc.server.auth import user_client
from datavc.server.console.common import need_reader
from datavc.server.console.pipelines import input_repos
from datavc.server.console.render import page, script_json
from datavc.server.console.sessions import REQUIRE_UI

router = APIRouter()


@router.get("/repos/{repo}/lineage", dependencies=[REQUIRE_UI.reader])
def lineage_page(
    repo: str,
    request: Request,
    ref: str = "main",
    path: str | None = None,
    direction: Literal["upstream", "downstream"] = "upstream",
) -> Response:
    """The graph of ``repo@ref`` (and, with ``path``, that file's datum and sources)."""
    c = user_client(request)
    info = c.lineage(repo, ref, path or None, direction)
    for name in sorted({n.repo for n in info.nodes} | {info.root.repo}):
        need_reader(request, name)
    elements = {
        "nodes": [
            {
                "data": {
                    "id": n.commit,
                    "label": f"{n.repo}@{n.commit[:8]}",
                    "kind": "pipeline" if n.pipeline else "repo",
                    "root": n.commit == info.root.commit,
                    "href": f"/repos/{quote(n.repo)}/commits/{n.commit}",
                }
            }
            for n in (info.root, *[n for n in info.nodes if n.commit != info.root.commit])
        ],
        # Drawn in the direction data flows: input commit -> derived commit.
        "edges": [{"data": {"id": f"{a}-{b}", "source": b, "target": a}} for a, b in info.edges],
    }
    sources: list[tuple[str, str, str, str]] = []  # (input name, repo, commit, path)
    if info.path and info.root.job:
        job = c.inspect_job(info.root.job)
        try:
            repos = input_repos(c.inspect_pipeline(job.pipeline))
        except NotFound:  # the pipeline was deleted since; the job still names its inputs
            repos = {}
        for name, src_path, _hash in info.sources:
            commit = job.inputs.get(name)
            src_repo = repos.get(name)
            if commit and src_repo:
                sources.append((name, src_repo, commit, src_path.strip("/")))
    return page(
        request,
        "lineage.html",
        info=info,
        repo=repo,
        ref=ref,
        path=(path or "").strip("/"),
        direction=direction,
        sources=sources,
        graph_json=script_json(elements),
        title=f"lineage of {repo}@{ref}" + (f":/{info.path}" if info.path else ""),
    )
