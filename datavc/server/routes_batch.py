"""Many files in one request: a directory up or down as one batch stream (:mod:`datavc.batch`).

``PUT .../branches/{branch}/batch?path=P`` stores the body's files under ``P`` (merged
as a directory put is) in one commit, or into the open ``commit``;
``GET .../refs/{ref}/batch?path=P`` streams the files below ``P``. The server computes
every object id from the bytes it receives; a client names none (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from datavc.batch import MEDIA_TYPE
from datavc.server import bodies
from datavc.server.auth import REQUIRE, UserClient, note_commit

router = APIRouter(prefix="/api/v1/repos/{repo}", tags=["files"])


@router.put("/branches/{branch}/batch", dependencies=[REQUIRE.writer])
async def put_batch(
    repo: str,
    branch: str,
    request: Request,
    c: UserClient,
    path: str = "/",
    message: str = "",
    commit: str | None = None,
) -> dict[str, Any]:
    """Store a batch stream's files under ``path``: one new commit, or into the open ``commit``.

    A cut or malformed stream is refused (400); nothing is committed unless every file is stored.
    """
    body = bodies.reader(request.stream())
    info = await run_in_threadpool(
        lambda: c.put_batch(repo, branch, path, body, message=message, commit=commit)
    )
    note_commit(request, info.id, branch)
    return info.to_json()


@router.get("/refs/{ref}/batch", dependencies=[REQUIRE.reader], response_model=None)
def get_batch(
    repo: str, ref: str, c: UserClient, path: str = "/", max_size: int | None = Query(None, ge=0)
) -> StreamingResponse:
    """A file, or every file below a directory, as one batch stream (paths relative to ``path``).

    ``max_size`` leaves out files larger than that many bytes (a client fetches those in ranged parts).
    """
    pieces = c.iter_batch(repo, ref, path, max_size=max_size)
    # The first piece now: a missing or corrupt object is an error status, not a cut stream.
    first = next(pieces, b"")
    body: Iterator[bytes] = chain([first], pieces)
    return StreamingResponse(body, media_type=MEDIA_TYPE)
