"""``datavc serve``: the HTTP API (FastAPI on uvicorn) over the Python ``Client``, with auth and an audit log.

Nothing below this package imports it (an import-linter contract): the remote client
(``datavc.remote``) speaks to it over HTTP only.
"""
