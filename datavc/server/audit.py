"""ASGI middleware that writes the audit log: every mutating request and every 401/403.

It runs around the whole app, so it also sees requests refused before any route code
ran. It records the route template and path parameters, the identity, the status and
the error message: never headers or bodies (where tokens and data travel).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datavc import audit
from datavc.accounts import Identity
from datavc.client import Client

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger("datavc.server.audit")


class AuditMiddleware:
    def __init__(self, app: ASGIApp, client: Client) -> None:
        self.app = app
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorded = False

        async def record(status: int) -> None:
            nonlocal recorded
            if not recorded and (scope["method"] in MUTATING or status in (401, 403)):
                recorded = True
                await run_in_threadpool(self._record, scope, status)

        async def send_recorded(message: Message) -> None:
            # Written before the response starts: a client that saw the answer finds the entry.
            if message["type"] == "http.response.start":
                await record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        finally:
            await record(500)  # no response started: an unhandled error

    def _record(self, scope: Scope, status: int) -> None:
        state: dict[str, Any] = scope.get("state") or {}
        ident: Identity | None = state.get("identity")
        route = scope.get("route")
        params: dict[str, Any] = scope.get("path_params") or {}
        try:
            audit.record(
                self.client.context,
                user=ident.name if ident else None,
                action=state.get("audit_action") or getattr(route, "name", None) or "unrouted",
                method=scope["method"],
                path=state.get("audit_path") or _route_path(scope, route),
                status=status,
                result=state.get("audit_result") or ("ok" if status < 400 else f"status {status}"),
                repo=state.get("audit_repo") or params.get("repo"),
                branch=state.get("audit_branch") or params.get("branch"),
                commit=state.get("audit_commit") or params.get("commit"),
            )
        except Exception:
            # The response is already sent; a lost audit row must at least be visible.
            log.exception("could not write the audit log entry for %s %s", scope["method"], scope.get("path"))


def _route_path(scope: Scope, route: Any) -> str:
    """The route's template under its mount point (``/ui/pipelines/{repo}/stop``), else the raw path."""
    template = getattr(route, "path", None)
    if template is None:
        return str(scope.get("path", ""))
    return str(scope.get("root_path", "")) + str(template)
