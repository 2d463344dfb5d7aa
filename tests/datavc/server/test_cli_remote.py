"""The CLI through a server: DATAVC_SERVER + token, login/logout, auth commands, exit codes 9 and 10."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from datavc.cli import main
from datavc.remote import credentials_path
from tests.datavc.server.conftest import Server


def datavc(*args: str, input: str | None = None, code: int = 0) -> tuple[str, str]:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
    return result.stdout, result.stderr


def test_cli_as_two_users_with_different_roles(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAVC_SERVER", server.url)
    monkeypatch.setenv("DATAVC_TOKEN", server.admin_token)
    datavc("repo", "create", "images")
    datavc("put", "images@main:/a.txt", "-", input="hello\n")
    datavc("auth", "user", "create", "reader1")
    out, err = datavc("auth", "token", "create", "--user", "reader1", "--name", "ci")
    secret = out.strip()
    assert secret.startswith("dvc_") and "not shown again" in err
    datavc("auth", "role", "grant", "images", "reader1", "reader")
    listed, _ = datavc("auth", "role", "list", "images", "--json")
    assert [r["user"] for r in json.loads(listed)] == ["reader1"]
    tokens, _ = datavc("auth", "token", "list", "--user", "reader1", "--json")
    assert secret not in tokens and json.loads(tokens)[0]["name"] == "ci"

    monkeypatch.setenv("DATAVC_TOKEN", secret)
    who, _ = datavc("auth", "whoami")
    assert who.startswith("reader1")
    got, _ = datavc("get", "images@main:/a.txt")
    assert got == "hello\n"
    _, err = datavc("put", "images@main:/b.txt", "-", input="x", code=10)
    assert err.startswith("error: ") and "needs role 'writer' on repo 'images'" in err
    _, err = datavc("auth", "user", "list", code=10)
    assert "admin" in err
    monkeypatch.setenv("DATAVC_TOKEN", "dvc_forged")
    _, err = datavc("repo", "list", code=9)
    assert err == "error: invalid token\n"
    monkeypatch.delenv("DATAVC_TOKEN")
    _, err = datavc("repo", "list", code=9)
    assert "authentication required" in err


def test_login_saves_a_private_token_and_logout_removes_it(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "tok"
    token_file.write_text(server.admin_token + "\n")
    out, _ = datavc("login", server.url, "--token-file", str(token_file))
    assert "logged in" in out and server.admin_token not in out
    path = credentials_path()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    monkeypatch.setenv("DATAVC_SERVER", server.url)
    datavc("repo", "create", "viafile")
    out, _ = datavc("repo", "list")
    assert "viafile" in out
    out, _ = datavc("logout")
    assert server.url in out and not path.exists()
    datavc("repo", "list", code=9)
    token_file.write_text("dvc_wrong\n")
    _, err = datavc("login", server.url, "--token-file", str(token_file), code=9)
    assert not path.exists() and "dvc_wrong" not in err


def test_unreachable_server_is_exit_7(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.datavc.server.conftest import free_port

    monkeypatch.setenv("DATAVC_SERVER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("DATAVC_TOKEN", "dvc_x")
    _, err = datavc("repo", "list", code=7)
    assert "cannot reach the datavc server" in err and "dvc_x" not in err


def test_audit_command_reads_the_log_without_secrets(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAVC_SERVER", server.url)
    monkeypatch.setenv("DATAVC_TOKEN", server.admin_token)
    datavc("repo", "create", "a")
    datavc("repo", "create", "b")
    datavc("put", "a@main:/x", "-", input="x")
    out, _ = datavc("auth", "token", "create", "--name", "second", "--json")
    second = json.loads(out)["secret"]
    out, _ = datavc("audit", "--repo", "a", "--json")
    entries = json.loads(out)
    assert [(e["user"], e["action"], e["status"]) for e in entries] == [
        ("admin", "create_repo", 201),
        ("admin", "put_file", 200),
    ]
    out, _ = datavc("audit", "--user", "admin", "--since", "2000-01-01T00:00:00Z")
    assert "create_repo" in out and "create_token" in out
    for secret in (server.admin_token, second):
        assert secret not in out
    monkeypatch.delenv("DATAVC_SERVER")
    monkeypatch.setenv("DATAVC_HOME", str(server.direct.config.home.parent))
    out, _ = datavc("audit", "--json")  # directly on the store, too
    assert len(json.loads(out)) >= 4 and server.admin_token not in out
