"""The ASGI app: routers, the one error mapping, the audit middleware, health and readiness.

FastAPI (on Starlette, served by uvicorn) was chosen because it is well kept, typed,
generates the OpenAPI document from the route signatures, and runs plain ``def``
routes in a thread pool: the ``Client`` and the services are synchronous (SQLAlchemy
sessions, boto3), so they are called as they are, with no async rewrite.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from datavc import __version__
from datavc.client import Client
from datavc.errors import BackendUnavailable
from datavc.server import (
    errors,
    routes_admin,
    routes_auth,
    routes_batch,
    routes_commits,
    routes_files,
    routes_merge,
    routes_pipelines,
    routes_refs,
    routes_repos,
    routes_s3keys,
    routes_worker,
)
from datavc.server.audit import AuditMiddleware
from datavc.server.auth import PERMISSIONS, REQUIRE, BaseClient, Permission
from datavc.server.console import PREFIX as CONSOLE_PREFIX
from datavc.server.console import create_console

API_PREFIX = "/api/v1"


def route_permission(route: APIRoute) -> Permission | None:
    """The permission a route declared (None when it declared none)."""
    found = [PERMISSIONS[d.call] for d in route.dependant.dependencies if d.call in PERMISSIONS]
    return found[0] if len(found) == 1 else None


def check_permissions(app: FastAPI) -> None:
    """Raise RuntimeError naming the first route that declares no permission (or several)."""
    for route in app.routes:
        if isinstance(route, APIRoute) and route_permission(route) is None:
            raise RuntimeError(f"route {sorted(route.methods or ())} {route.path} declares no permission")


def create_app(client: Client) -> FastAPI:
    """The API over ``client``'s store. Every route must declare its permission.

    Raises:
        RuntimeError: a route declares no permission, or more than one (a bug, caught at startup).
    """
    app = FastAPI(
        title="datavc",
        version=__version__,
        description="Version control and lineage for data. Send `Authorization: Bearer <token>`.",
    )
    app.state.client = client
    # Each upload request stores with its own writer: they share one pool of upload threads.
    client.context.raw_store.share_write_threads()
    errors.install(app)
    for router in (
        routes_repos.router,
        routes_refs.router,
        routes_commits.router,
        routes_merge.router,
        routes_commits.top,
        routes_files.router,
        routes_batch.router,
        routes_auth.router,
        routes_pipelines.router,
        routes_admin.router,
        routes_s3keys.router,
        routes_worker.router,
    ):
        # The routes themselves, not include_router: the app's route table stays a flat list
        # of APIRoute (what check_permissions, the audit log and the tests walk).
        app.router.routes.extend(router.routes)
    app.add_api_route("/healthz", healthz, methods=["GET"], dependencies=[REQUIRE.public], tags=["health"])
    app.add_api_route("/readyz", readyz, methods=["GET"], dependencies=[REQUIRE.public], tags=["health"])
    check_permissions(app)
    console = create_console(client)
    check_permissions(console)
    app.mount(CONSOLE_PREFIX, console, name="console")
    app.add_api_route(
        "/", to_console, methods=["GET"], dependencies=[REQUIRE.public], include_in_schema=False
    )
    app.add_middleware(AuditMiddleware, client=client)
    return app


def to_console() -> RedirectResponse:
    """A browser opening the server's address lands on the console."""
    return RedirectResponse(CONSOLE_PREFIX + "/", status_code=307)


def healthz() -> dict[str, Any]:
    """The process is up (no backend is touched)."""
    return {"status": "ok", "version": __version__}


def readyz(c: BaseClient) -> dict[str, Any]:
    """The metadata database and the object store answer; 503 otherwise."""
    from datavc import accounts
    from datavc.context import storage_errors

    accounts.count_users(c.context)
    with storage_errors():
        if not c.context.store.backend.exists(c.context.empty_tree):
            raise BackendUnavailable("the object store does not hold the empty tree; is it the right bucket?")
    return {"status": "ready"}
