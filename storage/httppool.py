"""Kept-alive ``http.client`` connections to one server, shared by threads; and proxy detection.

Used where a hot path talks HTTP without a client library's per-request cost: the S3
backend's direct GETs (:mod:`storage.backends.s3_direct`) and the remote client's ranged
downloads (``datavc.ranges``). A connection is given back only after its answer was read
whole; the caller closes one that saw any error, so a half-read answer is never read as
the next.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.request
from urllib.parse import urlsplit


class ConnectionPool:
    """Idle connections to ``host:port`` (HTTPS with ``context``), handed out one per request."""

    def __init__(
        self, host: str, port: int | None, *, https: bool, context: ssl.SSLContext | None, timeout: float
    ) -> None:
        self.host = host
        self._port = port
        self._https = https
        self._context = context
        self._timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> http.client.HTTPConnection:
        """An idle connection, or a new one (connected on its first request)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        if self._https:
            return http.client.HTTPSConnection(
                self.host, self._port, timeout=self._timeout, context=self._context
            )
        return http.client.HTTPConnection(self.host, self._port, timeout=self._timeout)

    def give_back(self, conn: http.client.HTTPConnection) -> None:
        """Keep ``conn`` for the next request (its answer was read whole); closed once the pool is."""
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection (those in use close when given back)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def proxied(url: str) -> bool:
    """Whether the environment sends requests to ``url`` through a proxy (``HTTP(S)_PROXY``,
    less ``NO_PROXY``), as httpx and botocore read it."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")
