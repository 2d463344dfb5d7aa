"""Pages: the file browser at any ref (directory pages, file previews), downloads, a file's history.

A directory page lists one page of entries, streamed from the tree, never the whole
tree; a file page reads at most a preview's worth of bytes; a download streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, islice
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from datavc.errors import NotFound
from datavc.info import CommitInfo, FileInfo
from datavc.server.auth import user_client
from datavc.server.console.common import after_key
from datavc.server.console.preview import image_type, preview
from datavc.server.console.render import page

from .sessions import REQUIRE_UI

router = APIRouter()

DIR_PAGE = 100
HISTORY_SCAN = 100  # commits looked at per history page
HISTORY_CHANGES = 30


def crumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) of each directory above and including ``path``, for the breadcrumb."""
    parts = [p for p in path.strip("/").split("/") if p]
    return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]


def _browse(repo: str, ref: str, path: str, request: Request, after: str | None) -> Response:
    c = user_client(request)
    info = c.inspect_file(repo, ref, path or "/")
    commit = c.inspect_commit(repo, info.commit)
    title = f"{repo}@{ref}:/{info.path.strip('/')}"
    common: dict[str, Any] = {
        "repo": repo,
        "ref": ref,
        "info": info,
        "commit": commit,
        "crumbs": crumbs(info.path),
    }
    if info.kind == "dir":
        entries: list[FileInfo]
        entries, nxt = after_key(
            c.list_files(repo, info.commit, info.path), after, lambda f: f.path, DIR_PAGE
        )
        return page(request, "tree.html", entries=entries, next=nxt, title=title, **common)
    return page(
        request,
        "file.html",
        preview=preview(c, info),
        title=title,
        **common,
    )


@router.get("/repos/{repo}/tree/{ref}", dependencies=[REQUIRE_UI.reader])
def browse_root(repo: str, ref: str, request: Request, after: str | None = None) -> Response:
    """The top directory of ``repo`` at ``ref``."""
    return _browse(repo, ref, "", request, after)


@router.get("/repos/{repo}/tree/{ref}/{path:path}", dependencies=[REQUIRE_UI.reader])
def browse(repo: str, ref: str, path: str, request: Request, after: str | None = None) -> Response:
    """A directory (one page of entries) or a file (its preview) at ``ref``."""
    return _browse(repo, ref, path, request, after)


@router.get("/repos/{repo}/raw/{ref}/{path:path}", dependencies=[REQUIRE_UI.reader], response_model=None)
def download(repo: str, ref: str, path: str, request: Request, inline: bool = False) -> Response:
    """The file's bytes, streamed; an attachment, or inline for the image types previews show."""
    c = user_client(request)
    info = c.inspect_file(repo, ref, path)
    pieces = c.iter_file(repo, info.commit, info.path, 0, info.size)
    first = next(pieces, b"")  # a missing object is an error page, not a cut download
    body: Iterator[bytes] = chain([first], pieces)
    name = info.path.rsplit("/", 1)[-1]
    mime = image_type(info.path) if inline else None
    headers = {
        "Content-Length": str(info.size),
        "X-Content-Type-Options": "nosniff",
        # Data is never run as a page of this origin, whatever it holds.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "inline" if mime else f"attachment; filename*=UTF-8''{_quote(name)}",
        "ETag": f'"{info.hash}"',
    }
    return StreamingResponse(body, media_type=mime or "application/octet-stream", headers=headers)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _hash_at(request: Request, repo: str, commit: str, path: str) -> str | None:
    try:
        return user_client(request).inspect_file(repo, commit, path).hash
    except NotFound:
        return None


@router.get("/repos/{repo}/history/{ref}/{path:path}", dependencies=[REQUIRE_UI.reader])
def history(repo: str, ref: str, path: str, request: Request, after: str | None = None) -> Response:
    """The commits that changed ``path`` (added, modified or deleted it), newest first.

    Looks at up to ``HISTORY_SCAN`` commits per page; ``after`` is the commit to go on from.
    """
    c = user_client(request)
    start = c.inspect_commit(repo, after or ref)
    p = c.inspect_file(repo, start.id, path).path if after is None else path.strip("/")
    window = list(islice(c.log(repo, start.id, HISTORY_SCAN + 1), HISTORY_SCAN + 1))
    hashes = [_hash_at(request, repo, ci.id, p) for ci in window]
    changes: list[tuple[CommitInfo, str]] = []
    last = len(window) - 1 if len(window) > HISTORY_SCAN else len(window)
    nxt: str | None = None
    for i in range(last):
        older = hashes[i + 1] if i + 1 < len(hashes) else None
        if hashes[i] != older:
            what = "added" if older is None else ("deleted" if hashes[i] is None else "modified")
            changes.append((window[i], what))
            if len(changes) == HISTORY_CHANGES:
                nxt = window[i + 1].id if i + 1 < len(window) else None
                break
    else:
        if len(window) > HISTORY_SCAN:
            nxt = window[HISTORY_SCAN].id
    return page(
        request,
        "history.html",
        repo=repo,
        ref=ref,
        path=p,
        changes=changes,
        next=nxt,
        crumbs=crumbs(p),
        title=f"history of {repo}:/{p}",
    )
