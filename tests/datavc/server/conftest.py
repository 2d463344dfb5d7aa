"""Server fixtures: a real uvicorn server on 127.0.0.1 (random port, in a thread) over a fresh store."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn

from datavc import accounts
from datavc.client import Client
from datavc.remote import RemoteClient
from datavc.server.app import create_app

START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A running server: its URL, the direct client it serves, an admin token, its thread."""

    url: str
    direct: Client
    admin_token: str
    _server: uvicorn.Server
    _thread: threading.Thread
    clients: list[RemoteClient] = field(default_factory=list)

    def client(self, token: str | None) -> RemoteClient:
        c = RemoteClient(self.url, token)
        self.clients.append(c)
        return c

    def user(self, name: str, *, admin: bool = False, expires_in: timedelta | None = None) -> str:
        """Create user ``name`` (if new) and return a fresh token for them."""
        try:
            accounts.inspect_user(self.direct.context, name)
        except accounts.UserNotFound:
            accounts.create_user(self.direct.context, name, admin=admin)
        tok = accounts.create_token(self.direct.context, name, expires_in=expires_in)
        assert tok.secret is not None
        return tok.secret

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the server thread did not stop"


def start_server(direct: Client, **config: object) -> Server:
    """Serve ``direct`` on a free port; returns once the server accepts connections."""
    admin = "admin"
    try:
        accounts.create_user(direct.context, admin, admin=True)
    except Exception:
        pass
    tok = accounts.create_token(direct.context, admin, name="test")
    assert tok.secret is not None
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(direct), host="127.0.0.1", port=port, log_level="warning", **config)  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, name=f"datavc-serve-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the datavc server did not start")
        time.sleep(0.02)
    scheme = "https" if config.get("ssl_certfile") else "http"
    return Server(f"{scheme}://127.0.0.1:{port}", direct, tok.secret, server, thread)


def serve_new_store(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Server]:
    """For a module-scoped fixture: a server over a new store, stopped (and the store closed) after."""
    direct = Client.init(tmp_path_factory.mktemp(name) / "store")
    server = start_server(direct)
    try:
        yield server
    finally:
        server.stop()
        direct.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``serve(db=None, **uvicorn_config)``: a server over a fresh store in tmp_path (stopped at teardown)."""
    started: list[Server] = []

    def start(db: str | None = None, **config: object) -> Server:
        direct = Client.init(tmp_path / f"store{len(started)}", db=db)
        srv = start_server(direct, **config)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
        srv.direct.close()


@pytest.fixture
def server(serve: Callable[..., Server]) -> Server:
    """A server over a fresh embedded store (SQLite + local objects)."""
    return serve()
