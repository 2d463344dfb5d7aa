"""Files: put (streamed request body), get (streamed, HTTP Range), stat, ls, glob, delete, copy, diff.

Uploads are handed to ``Client.put_file`` as they arrive (:mod:`datavc.server.bodies`):
memory stays at one piece whatever the size, nothing is spooled to disk, and a client
that disconnects mid-upload leaves no commit behind. Many files travel as one tar
stream instead (:mod:`datavc.server.routes_batch`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import chain
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from datavc import framing
from datavc.errors import InvalidArgument
from datavc.server import bodies
from datavc.server.auth import REQUIRE, UserClient, check_repo_role, current_identity, note_commit
from datavc.server.errors import body as error_body
from datavc.server.pages import DEFAULT_LIMIT, After, Limit, page

router = APIRouter(prefix="/api/v1/repos/{repo}", tags=["files"])

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class DeleteFiles(BaseModel):
    paths: list[str]
    message: str = ""
    commit: str | None = None


class CopyFile(BaseModel):
    src_repo: str
    src_ref: str
    src_path: str
    dst_path: str
    message: str = ""
    commit: str | None = None


@router.put("/branches/{branch}/files/{path:path}", dependencies=[REQUIRE.writer])
async def put_file(
    repo: str,
    branch: str,
    path: str,
    request: Request,
    c: UserClient,
    message: str = "",
    commit: str | None = None,
    framed: Annotated[
        bool,
        Query(
            description="The body is the file's chunks, cut by the client, as frames "
            "(a 4-byte big-endian length and the bytes, ended by a length of 0; "
            "sizes from GET /api/v1/store). The server hashes every chunk itself."
        ),
    ] = False,
) -> dict[str, Any]:
    """Store the request body at ``path``: a new commit on ``branch``, or into the open ``commit``."""
    if framed:
        raw = bodies.BodyReader(request.stream())
        max_size = c.chunking().max_size
        info = await run_in_threadpool(
            lambda: c.put_chunks(
                repo,
                branch,
                path,
                framing.read_frames(raw.next_pieces, max_size),
                message=message,
                commit=commit,
            )
        )
    else:
        body = bodies.reader(request.stream())
        info = await run_in_threadpool(
            lambda: c.put_stream(repo, branch, path, body, message=message, commit=commit)
        )
    note_commit(request, info.id, branch)
    return info.to_json()


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, length)`` of a single ``bytes=`` range, None for the whole file.

    Raises:
        InvalidArgument: a range that cannot be satisfied (answered 416).
    """
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None  # several ranges or another unit: RFC 9110 lets us send the whole file
    first, last = m.group(1), m.group(2)
    if not first:
        n = int(last)
        if n == 0 or size == 0:
            raise _Unsatisfiable(size)
        start = max(0, size - n)
        return start, size - start
    start = int(first)
    if start >= size:
        raise _Unsatisfiable(size)
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        raise _Unsatisfiable(size)
    return start, end - start + 1


class _Unsatisfiable(InvalidArgument):
    def __init__(self, size: int) -> None:
        super().__init__(f"requested range not satisfiable (the file has {size} bytes)")
        self.size = size


@router.get("/refs/{ref}/files/{path:path}", dependencies=[REQUIRE.reader], response_model=None)
def get_file(repo: str, ref: str, path: str, request: Request, c: UserClient) -> Response:
    """A file's content, streamed; honours a single ``Range: bytes=`` header (206)."""
    info = c.inspect_file(repo, ref, path)
    if info.kind != "file":
        raise InvalidArgument(f"{repo}@{ref}:/{info.path} is a directory")
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{info.hash}"', "X-Datavc-Commit": info.commit}
    try:
        rng = parse_range(request.headers.get("range"), info.size)
    except _Unsatisfiable as err:
        request.state.audit_result = f"invalid argument: {err}"
        return JSONResponse(
            error_body("invalid argument", str(err)),
            status_code=416,
            headers={"Content-Range": f"bytes */{err.size}"},
        )
    start, length = rng if rng is not None else (0, info.size)
    pieces = c.iter_file(repo, info.commit, info.path, start, length)
    # Read the first piece now: a missing or corrupt object is an error status, not a cut stream.
    first = next(pieces, b"")
    body: Iterator[bytes] = chain([first], pieces)
    headers["Content-Length"] = str(length)
    if rng is not None:
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{info.size}"
    return StreamingResponse(
        body, status_code=206 if rng else 200, media_type="application/octet-stream", headers=headers
    )


@router.get("/refs/{ref}/stat", dependencies=[REQUIRE.reader])
def inspect_file(repo: str, ref: str, c: UserClient, path: str = "/") -> dict[str, Any]:
    """Kind, size, hash and file count of one path."""
    return c.inspect_file(repo, ref, path).to_json()


def _path_key(f: Any) -> str:
    return str(f.path)


@router.get("/refs/{ref}/ls", dependencies=[REQUIRE.reader])
def list_files(
    repo: str,
    ref: str,
    c: UserClient,
    path: str = "/",
    recursive: bool = False,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> dict[str, Any]:
    """A directory's entries (every file below it with ``recursive``) in name order.

    Each item names its commit: ask for later pages with ``ref`` = that commit id.
    """
    return page(c.list_files(repo, ref, path, recursive=recursive), limit, after, _path_key, _to_json)


@router.get("/refs/{ref}/glob", dependencies=[REQUIRE.reader])
def glob_files(
    repo: str, ref: str, pattern: str, c: UserClient, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> dict[str, Any]:
    """Paths matching a glob (``*``, ``?``, ``[..]``, ``**``)."""
    return page(c.glob_files(repo, ref, pattern), limit, after, _path_key, _to_json)


def _to_json(f: Any) -> Any:
    return f.to_json()


@router.post("/branches/{branch}/delete", dependencies=[REQUIRE.writer])
def delete_files(
    repo: str, branch: str, body: DeleteFiles, c: UserClient, request: Request
) -> dict[str, Any]:
    """Delete paths: a new commit, or into the open ``commit``."""
    info = c.delete_file(repo, branch, body.paths, message=body.message, commit=body.commit)
    note_commit(request, info.id, branch)
    return info.to_json()


@router.post("/branches/{branch}/copy", dependencies=[REQUIRE.writer])
def copy_file(repo: str, branch: str, body: CopyFile, c: UserClient, request: Request) -> dict[str, Any]:
    """Copy from ``src_repo@src_ref:src_path`` (needs ``reader`` there too) without moving bytes."""
    check_repo_role(request, current_identity(request), body.src_repo, "reader")
    info = c.copy_file(
        body.src_repo,
        body.src_ref,
        body.src_path,
        repo,
        branch,
        body.dst_path,
        message=body.message,
        commit=body.commit,
    )
    note_commit(request, info.id, branch)
    return info.to_json()


@router.get("/diff", dependencies=[REQUIRE.reader])
def diff(
    repo: str,
    a: str,
    request: Request,
    c: UserClient,
    b: str | None = None,
    b_repo: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> dict[str, Any]:
    """Changes from ``a`` to ``b`` (default: from ``a``'s parent to ``a``), by path."""
    if b_repo is not None and b_repo != repo:
        check_repo_role(request, current_identity(request), b_repo, "reader")
    return page(c.diff(repo, a, b, b_repo=b_repo), limit, after, lambda d: d.path, lambda d: d.to_json())


@router.get("/diff/content", dependencies=[REQUIRE.reader])
def diff_content(
    repo: str,
    a: str,
    request: Request,
    c: UserClient,
    b: str | None = None,
    b_repo: str | None = None,
    max_bytes: Annotated[int, Query(ge=0, le=1 << 30)] = 1 << 20,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> dict[str, Any]:
    """What changed inside each changed file: unified diffs for text, row/column summaries for CSV."""
    if b_repo is not None and b_repo != repo:
        check_repo_role(request, current_identity(request), b_repo, "reader")
    changes = c.diff_content(repo, a, b, b_repo=b_repo, max_bytes=max_bytes)
    return page(changes, limit, after, lambda d: d.path, lambda d: d.to_json())
