"""Run the server: bootstrap the first admin, then uvicorn (optionally with TLS) for the API and
the S3 gateway, on ports bound up front, until SIGTERM (exit 0) or SIGINT."""

from __future__ import annotations

import gc
import os
import signal
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from datavc import accounts
from datavc.client import Client
from datavc.errors import BackendUnavailable, InvalidArgument

BOOTSTRAP_USER = "admin"
BOOTSTRAP_FILE = "admin-token"


def write_secret(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` readable by its owner only (0600 from creation, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def default_token_file(client: Client) -> Path:
    home = client.context.home
    return Path(home) / BOOTSTRAP_FILE if home else Path.home() / ".config" / "datavc" / BOOTSTRAP_FILE


def bootstrap(client: Client, token_file: Path | None = None) -> Path | None:
    """On a store with no users: create user ``admin`` and a token, written to a 0600 file.

    Returns:
        The file's path, or None when the store already has users.
    """
    if accounts.count_users(client.context) > 0:
        return None
    path = token_file or default_token_file(client)
    accounts.create_user(client.context, BOOTSTRAP_USER, admin=True)
    tok = accounts.create_token(client.context, BOOTSTRAP_USER, name="bootstrap")
    assert tok.secret is not None
    write_secret(path, tok.secret)
    return path


class AddressInUse(BackendUnavailable):
    """A port ``serve`` was asked to listen on cannot be had (another process holds it)."""


@dataclass
class Listeners:
    """The sockets ``serve`` listens on, bound before anything is served."""

    api: socket.socket
    s3: socket.socket | None = None

    @property
    def api_port(self) -> int:
        return int(self.api.getsockname()[1])

    @property
    def s3_port(self) -> int | None:
        return None if self.s3 is None else int(self.s3.getsockname()[1])

    def close(self) -> None:
        for sock in (self.api, self.s3):
            if sock is not None:
                sock.close()


def _bind(host: str, port: int, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a port left in TIME_WAIT by a stopped server can be taken again, a
    # port another process listens on cannot.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as err:
        sock.close()
        raise AddressInUse(f"cannot listen on {host}:{port} for the {what}: {err.strerror or err}") from None
    return sock


def listen(host: str, port: int, s3_port: int | None) -> Listeners:
    """Bind the API's port and (unless None) the S3 gateway's; port 0 picks a free one.

    Both are bound before either serves, so a port in use stops ``serve`` with one clear
    error (exit 7) instead of an API running without its gateway.

    Raises:
        AddressInUse: a port cannot be bound.
    """
    api = _bind(host, port, "API")
    try:
        s3 = _bind(host, s3_port, "S3 gateway") if s3_port is not None else None
    except AddressInUse:
        api.close()
        raise
    return Listeners(api, s3)


def run(
    client: Client,
    host: str,
    port: int,
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    log_level: str = "info",
    s3_port: int | None = None,
    listeners: Listeners | None = None,
    upload_max_age: timedelta | None = None,
    scheduler: bool = False,
) -> None:
    """Serve until SIGTERM (then return: exit 0) or SIGINT (KeyboardInterrupt: exit 130).

    The API and, when ``s3_port`` is given (or ``listeners`` has an S3 socket), the S3
    gateway run as two uvicorn servers on their own threads, on sockets bound first (see
    :func:`listen`); the main thread waits for a signal, then stops both gracefully and
    joins them. If either server stops on its own, the other is stopped too and
    ``ServerStopped`` is raised: the API never runs without its gateway. Abandoned
    multipart uploads older than ``upload_max_age`` (default 24 h) are swept on a timer.
    With ``scheduler``, pipeline jobs are claimed and run on a thread of their own
    (:mod:`datavc.server.scheduling`); at a stop the running job is finished first (for up
    to 30 s; a job cut off then is resumed by the next scheduler after its lease).
    """
    import uvicorn

    from datavc.server.app import create_app

    if bool(tls_cert) != bool(tls_key):
        raise InvalidArgument("TLS needs both --tls-cert and --tls-key")
    common: dict[str, Any] = {
        "ssl_certfile": tls_cert,
        "ssl_keyfile": tls_key,
        "log_level": log_level,
        # Access log lines hold method, path and status; tokens travel only in headers.
        "access_log": True,
        "server_header": False,
    }
    socks = listeners or listen(host, port, s3_port)
    servers: list[tuple[str, uvicorn.Server, socket.socket]] = [
        ("API", uvicorn.Server(uvicorn.Config(create_app(client), **common)), socks.api)
    ]
    stop = threading.Event()
    helpers: list[threading.Thread] = []
    if socks.s3 is not None:
        from datavc.server.s3 import sweep
        from datavc.server.s3.app import create_app as create_s3_app
        from datavc.server.s3.app import default_upload_dir

        upload_dir = default_upload_dir(client)
        app = create_s3_app(client, upload_dir=upload_dir)
        servers.append(("S3 gateway", uvicorn.Server(uvicorn.Config(app, **common)), socks.s3))
        age = upload_max_age or sweep.DEFAULT_MAX_AGE
        helpers.append(
            threading.Thread(
                target=sweep.sweep_every, args=(upload_dir, age, stop), name="datavc-s3-sweep", daemon=True
            )
        )
    if scheduler:
        from datavc.server.scheduling import scheduler_thread

        helpers.append(scheduler_thread(client, stop))
    signals: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        signals.append(signum)
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Everything made so far (modules, the apps, the routes) lives as long as the server:
    # out of the collector's way, a full collection during a 20,000-file put walks only what
    # requests made (it walked the whole heap: tens of ms each; docs/server.md).
    gc.collect()
    gc.freeze()
    threads = [
        threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, name=f"datavc-{name}", daemon=True)
        for name, srv, sock in servers
    ]
    try:
        for t in threads + helpers:
            t.start()
        while not stop.wait(0.2):
            if not all(t.is_alive() for t in threads):
                break
    finally:
        stop.set()
        for _, srv, _ in servers:
            srv.should_exit = True
        for t in threads + helpers:
            t.join(timeout=30)
        for sig, handler in old.items():
            signal.signal(sig, handler)
        socks.close()
    if not signals:
        dead = [name for (name, _, _), t in zip(servers, threads, strict=True) if not t.is_alive()]
        which = " and the ".join(dead) or "server"
        raise ServerStopped(f"the {which} stopped unexpectedly (see the log above)")
    if signals[-1] == signal.SIGINT:
        raise KeyboardInterrupt


class ServerStopped(BackendUnavailable):
    """A server thread of ``serve`` ended without being asked to."""


UI_TOKEN_HOURS = 12


def ui_token(client: Client) -> tuple[str, str]:
    """A short-lived token for ``datavc ui``: whoever can open the embedded store is its admin.

    Bootstraps user ``admin`` on a store with no users (its token file as ``serve`` writes
    it), then makes a new token for ``admin`` (or the first admin) that expires in
    ``UI_TOKEN_HOURS``; ``datavc ui`` revokes it when it stops.

    Returns:
        ``(token id, secret)``.
    """
    bootstrap(client)
    admins = [u.name for u in accounts.list_users(client.context) if u.is_admin]
    if not admins:
        raise InvalidArgument("the store has users but no admin: run `datavc serve` and log in with a token")
    who = BOOTSTRAP_USER if BOOTSTRAP_USER in admins else admins[0]
    tok = accounts.create_token(client.context, who, name="ui", expires_in=timedelta(hours=UI_TOKEN_HOURS))
    assert tok.secret is not None
    return tok.id, tok.secret


def revoke_ui_token(client: Client, token_id: str) -> None:
    accounts.revoke_token(client.context, token_id)
