"""The web console: server-rendered pages over the same ``Client`` and roles as the API.

Mounted at ``/ui`` by ``datavc serve`` and ``datavc ui``. It is its own FastAPI app
(no OpenAPI document; cookie sessions instead of bearer tokens; errors as HTML pages)
whose routes declare their permissions with the API's :class:`~datavc.server.auth.Permission`
kinds, checked at startup the same way. Static assets (the console's own script and
style, and the vendored cytoscape/dagre, see ``scripts/vendor_assets.sh``) ship inside
the package: no network and no build step at install or run time.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from datavc.client import Client

STATIC = Path(__file__).with_name("static")
PREFIX = "/ui"


def create_console(client: Client) -> FastAPI:
    """The console app over ``client``'s store (mount it at :data:`PREFIX`; ``create_app``
    checks its routes' permissions as it does the API's)."""
    from datavc.server.console import files, lineage, login, pipelines, repos
    from datavc.server.console.preview import pygments_css
    from datavc.server.console.render import install_errors
    from datavc.server.console.sessions import REQUIRE_UI, Sessions

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="datavc console")
    app.state.client = client
    app.state.sessions = Sessions()
    install_errors(app)
    for router in (login.router, repos.router, files.router, pipelines.router, lineage.router):
        app.router.routes.extend(router.routes)
    css = pygments_css()

    def highlight_css() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    app.add_api_route("/highlight.css", highlight_css, methods=["GET"], dependencies=[REQUIRE_UI.public])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
