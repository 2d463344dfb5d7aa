"""Error categories to HTTP statuses, in one place, and the one JSON error body.

Every error response is ``{"error": {"category": ..., "message": ...}}``; the remote
client turns the category back into the same ``DatavcError`` subclass, so a CLI command
exits with the same code whether it ran directly or through the server.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from datavc import errors

STATUS: dict[type[errors.DatavcError], int] = {
    errors.InvalidArgument: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Conflict: 409,
    errors.PipelineFailed: 424,
    errors.Integrity: 500,
    errors.BackendUnavailable: 503,
}
"""Each category's HTTP status (subclasses take their category's)."""

_HTTP_CATEGORY = {
    400: "invalid argument",
    401: "unauthenticated",
    403: "forbidden",
    404: "not found",
    405: "invalid argument",
    409: "conflict",
    413: "invalid argument",
    416: "invalid argument",
    422: "invalid argument",
    503: "backend unavailable",
}


def status_of(err: errors.DatavcError) -> int:
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def body(category: str, message: str) -> dict[str, Any]:
    return {"error": {"category": category, "message": message}}


def _note(request: Request, category: str, message: str) -> None:
    request.state.audit_result = f"{category}: {message}"


async def _datavc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DatavcError)
    message = " ".join((str(exc) or exc.category).splitlines())
    _note(request, exc.category, message)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, errors.Unauthenticated) else None
    content = body(exc.category, message)
    if isinstance(exc, errors.MergeConflicts):
        # every conflict, structured, so a remote client raises the same MergeConflicts
        content["error"]["conflicts"] = [getattr(c, "to_json", dict)() for c in exc.conflicts]
    return JSONResponse(content, status_code=status_of(exc), headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    message = "invalid request: " + "; ".join(parts)
    _note(request, "invalid argument", message)
    return JSONResponse(body("invalid argument", message), status_code=400)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    category = _HTTP_CATEGORY.get(exc.status_code, "error")
    message = str(exc.detail)
    _note(request, category, message)
    return JSONResponse(body(category, message), status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug: say so without details (they could hold anything); the server log has the traceback.
    return JSONResponse(body("error", "internal server error"), status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the one JSON body."""
    app.add_exception_handler(errors.DatavcError, _datavc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
