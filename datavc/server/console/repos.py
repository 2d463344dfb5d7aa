"""Pages: the repos, one repo (branches, tags, paged log), one commit (with its diff); create a branch."""

from __future__ import annotations

from itertools import islice
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from datavc.info import CommitInfo, DiffInfo, RepoInfo
from datavc.server.auth import base_client, current_identity, user_client, visible
from datavc.server.console.common import PAGE, after_key, can
from datavc.server.console.render import page
from datavc.server.console.sessions import CSRF, REQUIRE_UI

router = APIRouter()

LOG_PAGE = 30
DIFF_PAGE = 200


def default_branch(info: RepoInfo) -> str | None:
    if "main" in info.branches:
        return "main"
    return info.branches[0] if info.branches else None


@router.get("/", dependencies=[REQUIRE_UI.authenticated])
def repos_page(request: Request, after: str | None = None) -> Response:
    """Every repo the caller can read: size, branches, latest commit (paged by name)."""
    c = user_client(request)
    me = current_identity(request)
    repos = visible(c.list_repos(), me, base_client(request), lambda r: r.name)
    shown, nxt = after_key(repos, after, lambda r: r.name, PAGE)
    latest: dict[str, CommitInfo | None] = {}
    for r in shown:
        branch = default_branch(r)
        latest[r.name] = next(iter(c.log(r.name, branch, 1)), None) if branch else None
    return page(request, "repos.html", repos=shown, latest=latest, next=nxt, title="Repos")


@router.get("/repos/{repo}", dependencies=[REQUIRE_UI.reader])
def repo_page(repo: str, request: Request, ref: str | None = None, after: str | None = None) -> Response:
    """Branches, tags and the commit log from ``ref`` (paged: ``after`` is the next commit to show)."""
    c = user_client(request)
    info = c.inspect_repo(repo)
    ref = ref or default_branch(info)
    commits: list[CommitInfo] = []
    nxt = None
    if ref is not None:
        got = list(islice(c.log(repo, after or ref, LOG_PAGE + 1), LOG_PAGE + 1))
        commits, nxt = got[:LOG_PAGE], (got[LOG_PAGE].id if len(got) > LOG_PAGE else None)
    return page(
        request,
        "repo.html",
        repo=info,
        ref=ref,
        branches=c.list_branches(repo),
        tags=c.list_tags(repo),
        commits=commits,
        next=nxt,
        title=repo,
    )


@router.get("/repos/{repo}/commits/{commit}", dependencies=[REQUIRE_UI.reader])
def commit_page(
    repo: str, commit: str, request: Request, against: str | None = None, after: str | None = None
) -> Response:
    """Message, author, origin, provenance, and the diff against the parent (or ``against``, any ref)."""
    c = user_client(request)
    info = c.inspect_commit(repo, commit)
    changes = c.diff(repo, against, info.id) if against else c.diff(repo, info.id)
    shown: list[DiffInfo]
    shown, nxt = after_key(changes, after, lambda d: d.path, DIFF_PAGE)
    provenance = [p.split("@", 1) for p in info.provenance]
    return page(
        request,
        "commit.html",
        repo=repo,
        commit=info,
        against=against,
        changes=shown,
        next=nxt,
        provenance=provenance,
        can_write=can(request, repo, "writer"),
        title=f"{repo}@{info.id[:10]}",
    )


@router.post("/repos/{repo}/branches", dependencies=[REQUIRE_UI.writer, CSRF])
def create_branch(repo: str, request: Request, name: str = Form(...), from_ref: str = Form(...)) -> Response:
    """Create branch ``name`` at ``from_ref`` (the commit page's "Create branch here")."""
    c = user_client(request)
    c.create_branch(repo, name, from_ref)
    base = request.scope.get("root_path", "")
    return RedirectResponse(f"{base}/repos/{quote(repo)}?ref={quote(name)}", status_code=303)
