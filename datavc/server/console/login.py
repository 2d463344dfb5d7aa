"""Log in with an API token, log out; the audit log page (admins)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from datavc import accounts, audit
from datavc.errors import Forbidden, Unauthenticated
from datavc.server.auth import base_client
from datavc.server.console.render import page
from datavc.server.console.sessions import (
    COOKIE,
    CSRF,
    LOGIN_CSRF_COOKIE,
    REQUIRE_UI,
    current_session,
    same,
    sessions,
)

router = APIRouter()

AUDIT_SHOWN = 200


def _safe_next(target: str | None, base: str) -> str:
    """Only a path of this console: never an absolute URL (no open redirect)."""
    if target and target.startswith(base + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return base + "/"


@router.get("/login", dependencies=[REQUIRE_UI.public])
def login_page(request: Request, next: str | None = None) -> Response:
    """The log-in form; a ``#token=...`` fragment (from ``datavc ui``) fills it in the browser."""
    base = request.scope.get("root_path", "")
    if current_session(request) is not None:
        return RedirectResponse(_safe_next(next, base), status_code=303)
    login_csrf = secrets.token_urlsafe(32)
    resp = page(request, "login.html", next=_safe_next(next, base), login_csrf=login_csrf, title="Log in")
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        login_csrf,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=base + "/login",
    )
    return resp


@router.post("/login", dependencies=[REQUIRE_UI.public])
def login(request: Request, token: str = Form(...), csrf: str = Form(""), next: str = Form("")) -> Response:
    """Check the token like the API does; on success, a new session (cookie holds its id only)."""
    base = request.scope.get("root_path", "")
    if not same(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise Forbidden("the log-in form's CSRF token is missing or wrong: reload the page")
    try:
        ident = accounts.authenticate(base_client(request).context, token.strip())
    except Unauthenticated:
        request.state.audit_result = "unauthenticated: console log-in refused"
        fresh = secrets.token_urlsafe(32)
        refused = page(
            request,
            "login.html",
            status=401,
            next=_safe_next(next, base),
            login_csrf=fresh,
            error="That token is not valid (unknown, expired or revoked).",
            title="Log in",
        )
        refused.set_cookie(LOGIN_CSRF_COOKIE, fresh, httponly=True, samesite="strict", path=base + "/login")
        return refused
    request.state.identity = ident
    sessions(request).drop(request.cookies.get(COOKIE))  # a fresh id at every log-in (no fixation)
    sid, _ = sessions(request).create(token.strip())
    resp = RedirectResponse(_safe_next(next, base), status_code=303)
    resp.set_cookie(
        COOKIE,
        sid,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=base or "/",
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path=base + "/login")
    return resp


@router.post("/logout", dependencies=[REQUIRE_UI.authenticated, CSRF])
def logout(request: Request) -> Response:
    base = request.scope.get("root_path", "")
    sessions(request).drop(request.cookies.get(COOKIE))
    resp = RedirectResponse(base + "/login", status_code=303)
    resp.delete_cookie(COOKIE, path=base or "/")
    return resp


@router.get("/audit", dependencies=[REQUIRE_UI.admin])
def audit_page(
    request: Request, repo: str | None = None, user: str | None = None, hours: float = 24.0
) -> Response:
    """Audit entries of the last ``hours`` (newest first, at most ``AUDIT_SHOWN``), by repo or user."""
    since = datetime.now(UTC) - timedelta(hours=max(0.0, min(hours, 24.0 * 3650)))
    entries = audit.list_entries(
        base_client(request).context,
        repo=repo or None,
        user=user or None,
        since=since,
        limit=AUDIT_SHOWN,
        newest_first=True,
    )
    return page(
        request,
        "audit.html",
        entries=entries,
        repo=repo or "",
        user=user or "",
        hours=hours,
        title="Audit log",
    )
