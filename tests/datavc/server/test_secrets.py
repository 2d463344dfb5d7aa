"""No secret leaks: tokens, the database password and the bucket keys never appear in any output.

A ``datavc serve`` subprocess over a shared store (PostgreSQL with a password, S3 with keys
in the environment) is driven through the CLI with a valid token, a wrong token and a
revoked one; every stdout, stderr, the server's log (uvicorn access log included), every
``--json`` output and every row of the audit table is searched for every secret.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.datavc.server.test_serve import ServeProcess


def _role_with_password(pg_url: str) -> tuple[str, str]:
    """A login role with a random password owning a fresh database; returns (url, password)."""
    import psycopg
    from psycopg import sql

    from tests.conftest import to_libpq_url

    password = "pw" + secrets.token_hex(16)
    role = f"u_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(to_libpq_url(pg_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )
        conn.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(make_url(pg_url).database or ""), sql.Identifier(role)
            )
        )
    url = make_url(pg_url).set(username=role, password=password)
    return url.render_as_string(hide_password=False), password


class Run:
    """Runs ``datavc`` subprocesses and keeps every byte they print."""

    def __init__(self) -> None:
        self.outputs: list[tuple[list[str], str]] = []

    def __call__(
        self,
        *args: str,
        token: str | None = None,
        server: str | None = None,
        code: int = 0,
        stdin: str | None = None,
        keep: bool = True,
    ) -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("DATAVC_SERVER", "DATAVC_TOKEN")}
        if server:
            env["DATAVC_SERVER"] = server
        if token:
            env["DATAVC_TOKEN"] = token
        proc = subprocess.run(
            [sys.executable, "-c", "from datavc.cli import main; main()", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == code, (args, proc.returncode, proc.stdout, proc.stderr)
        if keep:
            self.outputs.append((list(args), proc.stdout + proc.stderr))
        return proc.stdout


def test_no_secret_in_any_output_log_json_or_audit_record(
    tmp_path: Path, pg_url: str, s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Distinctive bucket keys (moto accepts any), so a leak cannot hide behind a common word.
    access_key = "AKIA" + secrets.token_hex(8).upper()
    secret_key = secrets.token_urlsafe(30)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    db_url, db_password = _role_with_password(pg_url)
    home = tmp_path / "store"
    run = Run()
    monkeypatch.setenv("DATAVC_DB", db_url)  # a password never goes on a command line
    run("init", str(home), "--db", "env:DATAVC_DB", "--objects", s3_url)

    p = ServeProcess(home)
    try:
        url = f"http://127.0.0.1:{p.port}"
        p.wait_serving(url)
        admin = (home / ".datavc" / "admin-token").read_text().strip()
        wrong = "dvc_" + secrets.token_urlsafe(32)

        run("repo", "create", "data", server=url, token=admin)
        run("put", "data@main:/a.txt", "-", server=url, token=admin, stdin="hello\n")
        assert run("get", "data@main:/a.txt", server=url, token=admin) == "hello\n"
        run("ls", "data@main:/", "--json", server=url, token=admin)
        run("log", "data", "--json", server=url, token=admin)
        run("get", "data@main:/missing", server=url, token=admin, code=3)
        run("auth", "user", "create", "bob", server=url, token=admin)
        bob = run(
            "auth", "token", "create", "--user", "bob", "--name", "b", server=url, token=admin, keep=False
        ).strip()  # shown once, on purpose: the one place a token may appear
        doomed = run(
            "auth", "token", "create", "--user", "bob", "--name", "d", server=url, token=admin, keep=False
        ).strip()
        run("auth", "role", "grant", "data", "bob", "reader", server=url, token=admin)
        run("auth", "whoami", "--json", server=url, token=bob)
        run("get", "data@main:/a.txt", server=url, token=bob)
        run("put", "data@main:/b.txt", "-", server=url, token=bob, stdin="x", code=10)
        run("repo", "list", server=url, token=wrong, code=9)
        run("repo", "list", "--json", server=url, token=wrong, code=9)
        listed = json.loads(run("auth", "token", "list", "--user", "bob", "--json", server=url, token=admin))
        doomed_id = next(t["id"] for t in listed if t["name"] == "d")
        run("auth", "token", "revoke", doomed_id, server=url, token=admin)
        run("repo", "list", server=url, token=doomed, code=9)
        run("put", "data@main:/c.txt", "-", server=url, token=doomed, stdin="x", code=9)
        run("auth", "token", "list", "--json", server=url, token=admin)
        run("audit", "--json", server=url, token=admin)
        # The direct (embedded-credentials) side too: the store's own commands.
        run("--home", str(home), "fsck")
        run("--home", str(home), "audit", "--json")
    finally:
        p.stop()

    secret_values = {
        "admin token": admin,
        "reader token": bob,
        "revoked token": doomed,
        "wrong token": wrong,
        "database password": db_password,
        "bucket access key": access_key,
        "bucket secret key": secret_key,
    }
    server_log = p.output()
    assert "401" in server_log and "403" in server_log  # the refusals were logged (without secrets)
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            audit_rows = [repr(tuple(r)) for r in conn.execute(sa.text("SELECT * FROM audit_log"))]
    finally:
        engine.dispose()
    assert len(audit_rows) >= 8
    haystacks = [("server log", server_log), *((" ".join(a), o) for a, o in run.outputs)]
    haystacks += [("audit row", r) for r in audit_rows]
    leaks = [(what, where) for what, s in secret_values.items() for where, text in haystacks if s in text]
    assert leaks == []
