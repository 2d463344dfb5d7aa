"""Rendering: the Jinja2 environment, page responses, and errors as HTML pages.

Templates are autoescaped (everything shown comes from users: names, messages,
paths, file content). Every page gets the caller, their CSRF token and the console's
base URL, so a template never builds a form without the token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from datavc import errors
from datavc.server.errors import status_of

TEMPLATES = Path(__file__).with_name("templates")


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def when(t: datetime | None) -> str:
    if t is None:
        return ""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def script_json(value: object) -> str:
    """JSON to embed in ``<script type="application/json">``: ``<``, ``>``, ``&`` escaped so no
    value (a name, a path) can close the element, whatever it holds."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def path_url(path: str) -> str:
    """A repo path as a URL path segment (slashes kept, the rest quoted)."""
    return quote(path.strip("/"), safe="/")


ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["size"] = human_size
ENV.filters["when"] = when
ENV.filters["short"] = lambda s: (s or "")[:10]
ENV.filters["pathurl"] = path_url
ENV.filters["q"] = lambda s: quote(str(s), safe="")


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the common context (caller, CSRF token, base URL)."""
    ident = getattr(request.state, "identity", None)
    sess = getattr(request.state, "console_session", None)
    html = ENV.get_template(template).render(
        base=request.scope.get("root_path", ""),
        me=ident,
        csrf=sess.csrf if sess else "",
        request_path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


SECURITY_HEADERS = {
    # Scripts and styles come from the console itself only; no framing (clickjacking).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _error_page(request: Request, status: int, category: str, message: str) -> Response:
    request.state.audit_result = f"{category}: {message}"
    return page(request, "error.html", status=status, category=category, message=message, title=category)


async def _datavc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.DatavcError)
    message = " ".join((str(exc) or exc.category).splitlines())
    if isinstance(exc, errors.Unauthenticated) and request.method == "GET":
        base = request.scope.get("root_path", "")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{base}/login?next={quote(target, safe='')}", status_code=303)
    return _error_page(request, status_of(exc), exc.category, message)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
    return _error_page(request, 400, "invalid argument", "invalid request: " + "; ".join(parts))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _error_page(request, exc.status_code, "error", str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    return _error_page(request, 500, "error", "internal server error")


def install_errors(app: FastAPI) -> None:
    """Errors become HTML pages; a GET that needs a log-in is sent to the log-in page."""
    app.add_exception_handler(errors.DatavcError, _datavc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
