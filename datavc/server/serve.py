"""Run the server: bootstrap the first admin, then uvicorn (optionally with TLS)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from datavc import accounts
from datavc.client import Client
from datavc.errors import InvalidArgument

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


def run(
    client: Client,
    host: str,
    port: int,
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    log_level: str = "info",
    s3_port: int | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM: the API on ``port`` and, unless ``s3_port`` is None, the S3
    gateway on ``s3_port`` (same host and TLS), in a second uvicorn server on its own thread."""
    import threading

    import uvicorn

    from datavc.server.app import create_app

    if bool(tls_cert) != bool(tls_key):
        raise InvalidArgument("TLS needs both --tls-cert and --tls-key")
    common: dict[str, Any] = {
        "host": host,
        "ssl_certfile": tls_cert,
        "ssl_keyfile": tls_key,
        "log_level": log_level,
        # Access log lines hold method, path and status; tokens travel only in headers.
        "access_log": True,
        "server_header": False,
    }
    gateway: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    if s3_port is not None:
        from datavc.server.s3.app import create_app as create_s3_app

        gateway = uvicorn.Server(uvicorn.Config(create_s3_app(client), port=s3_port, **common))
        # Signal handlers belong to the main thread's server; this one is stopped below.
        thread = threading.Thread(target=gateway.run, name="datavc-s3-gateway", daemon=True)
        thread.start()
    try:
        uvicorn.run(create_app(client), port=port, **common)
    finally:
        if gateway is not None and thread is not None:
            gateway.should_exit = True
            thread.join(timeout=10)


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
