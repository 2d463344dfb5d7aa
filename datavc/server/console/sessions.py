"""Console log-in sessions, CSRF tokens and the console's permission dependencies.

Choice: server-side sessions. Logging in with an API token creates a random session
id (32 bytes from ``secrets``); the browser's cookie holds only that id (HttpOnly,
SameSite=Strict, Secure over HTTPS, path ``/ui``), never the token. The token stays in
this process's memory and is re-checked on every request with the same
``accounts.authenticate`` the API uses, so revoking or expiring the token ends the
session at once. Sessions do not survive a server restart (log in again), and with
several server processes each keeps its own (use one process, or sticky sessions).

CSRF: each session has its own random token, rendered as a hidden field in every form
and compared (constant time) on every POST; the log-in form, which has no session yet,
uses a double-submit cookie. SameSite=Strict is the second wall.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from fastapi import Depends, Request

from datavc import accounts
from datavc.accounts import Identity
from datavc.errors import Forbidden, Unauthenticated
from datavc.server.auth import Require, base_client

COOKIE = "datavc_session"
LOGIN_CSRF_COOKIE = "datavc_login_csrf"
IDLE_SECONDS = 12 * 3600
MAX_SESSIONS = 10_000


@dataclass
class Session:
    """One logged-in browser: the token it logged in with and its CSRF token."""

    token: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.monotonic)


class Sessions:
    """The server's sessions, by id; thread-safe (routes run in a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}

    def create(self, token: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._expire()
            if len(self._by_id) >= MAX_SESSIONS:  # bounded memory: the oldest goes first
                oldest = min(self._by_id, key=lambda k: self._by_id[k].last_seen)
                del self._by_id[oldest]
            sess = self._by_id[sid] = Session(token)
        return sid, sess

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            sess = self._by_id.get(sid)
            now = time.monotonic()
            if sess is None or now - sess.last_seen > IDLE_SECONDS:
                self._by_id.pop(sid, None)
                return None
            sess.last_seen = now
            return sess

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [k for k, s in self._by_id.items() if now - s.last_seen > IDLE_SECONDS]:
            del self._by_id[sid]


def sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.sessions
    return found


def current_session(request: Request) -> Session | None:
    return sessions(request).get(request.cookies.get(COOKIE))


def session_identity(request: Request) -> Identity:
    """The caller, from the session cookie; raises Unauthenticated (the console then redirects)."""
    ident: Identity | None = getattr(request.state, "identity", None)
    if ident is not None:
        return ident
    sess = current_session(request)
    if sess is None:
        raise Unauthenticated("log in to the console")
    try:
        ident = accounts.authenticate(base_client(request).context, sess.token)
    except Unauthenticated:
        sessions(request).drop(request.cookies.get(COOKIE))
        raise
    request.state.identity = ident
    request.state.console_session = sess
    return ident


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


async def check_csrf(request: Request) -> None:
    """Every console POST carries its session's CSRF token in the ``csrf`` form field."""
    form = await request.form()
    sess: Session | None = getattr(request.state, "console_session", None)
    sent = form.get("csrf")
    if sess is None or not isinstance(sent, str) or not same(sent, sess.csrf):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page and try again")


REQUIRE_UI = Require(session_identity)
"""The console's permission dependencies: the API's permissions, identified by session cookie."""

CSRF = Depends(check_csrf)
