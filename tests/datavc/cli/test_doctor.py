"""``datavc doctor`` and ``datavc worker`` from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.datavc.cli.helpers import Run, assert_error
from tests.datavc.server.conftest import Server, free_port, start_server


def test_doctor_on_a_healthy_embedded_store(store: Path, run: Run) -> None:
    out = run("doctor").stdout
    assert [line.split()[0] for line in out.splitlines()] == ["ok"] * 4
    assert "database" in out and "object store" in out and "write and read back ok" in out
    doc = json.loads(run("doctor", "--json").stdout)
    assert doc["ok"] is True and {c["name"] for c in doc["checks"]} >= {"store", "database", "object store"}


def test_doctor_says_what_is_wrong_and_how_to_fix_it(
    run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATAVC_DB", "postgresql://nobody:secret@127.0.0.1:1/nothing")
    monkeypatch.setenv("DATAVC_OBJECTS", str(tmp_path / "no-store-here"))
    result = run("doctor", code=None)
    err = assert_error(result, 7)
    assert "database" in err and "object store" in err
    assert "BAD  database" in result.stdout and "fix: start PostgreSQL" in result.stdout
    assert "secret" not in result.stdout  # the password is never shown
    assert "fix: run 'datavc init'" in result.stdout


def test_doctor_without_any_store(run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("doctor", code=None)
    assert_error(result, 7)
    assert "BAD  store" in result.stdout and "datavc init" in result.stdout


def test_doctor_checks_kubernetes_access(
    store: Path, run: Run, fake_k8s: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAVC_EXECUTOR", "kubernetes")
    monkeypatch.setenv("DATAVC_K8S_NAMESPACE", "default")
    out = run("doctor", code=None).stdout
    assert "kubernetes" in out and "API reachable, namespace default" in out
    fake_k8s.pause()
    monkeypatch.setenv("DATAVC_K8S_NAMESPACE", "default")
    try:
        result = run("doctor", code=None)
    finally:
        fake_k8s.resume()
    assert result.exit_code == 7
    assert "BAD  kubernetes" in result.stdout


def test_worker_with_nothing_to_do_exits_0(store: Path, run: Run) -> None:
    # A worker for an unknown job is a clear not-found error, not a crash.
    result = run("worker", "--job", "0" * 32, "--shard", "0", code=None)
    assert_error(result, 3)


def test_init_records_the_kubernetes_executor(
    run: Run, tmp_path: Path, fake_k8s: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "k8s-store"
    doc = json.loads(
        run("init", root, "--executor", "kubernetes", "--k8s-namespace", "default", "--json").stdout
    )
    assert doc["executor"] == {"kind": "kubernetes", "namespace": "default", "secret": "datavc-credentials"}
    monkeypatch.setenv("DATAVC_HOME", str(root))
    out = run("doctor").stdout  # no DATAVC_EXECUTOR: the store's configuration says kubernetes
    assert "API reachable, namespace default" in out


# --- DATAVC_SERVER: the server, TLS and the token --------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``served(**uvicorn_config)``: a real server over a fresh store (stopped at teardown)."""
    from datavc.client import Client

    started: list[Server] = []

    def start(**config: object) -> Server:
        srv = start_server(Client.init(tmp_path / f"served{len(started)}"), **config)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
        srv.direct.close()


def test_doctor_checks_the_server_and_says_whose_token_it_is(
    served: Callable[..., Server], run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no local store: a remote client needs none
    srv = served()
    srv.direct.create_repo("images")
    reader = srv.user("ann")
    from datavc import accounts

    accounts.grant_role(srv.direct.context, "images", "ann", "reader")
    monkeypatch.setenv("DATAVC_SERVER", srv.url)
    monkeypatch.setenv("DATAVC_TOKEN", srv.admin_token)
    out = run("doctor").stdout
    assert [line.split()[0] for line in out.splitlines()] == ["ok"] * 4
    assert "user admin (admin)" in out and "plain HTTP" in out and "database and object store ready" in out
    assert srv.admin_token not in out
    monkeypatch.setenv("DATAVC_TOKEN", reader)
    doc = json.loads(run("doctor", "--json").stdout)
    assert doc["ok"] is True
    token = next(c for c in doc["checks"] if c["name"] == "server token")
    assert token["detail"] == "valid: user ann (reader on images)"


@pytest.mark.parametrize("token", ["dvc_" + "A" * 43, None, "revoked"])
def test_doctor_refused_token_is_exit_9_with_a_fix(
    served: Callable[..., Server], run: Run, monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    srv = served()
    monkeypatch.setenv("DATAVC_SERVER", srv.url)
    if token == "revoked":
        from datavc import accounts

        token = srv.user("bob")
        tid = next(t.id for t in accounts.list_tokens(srv.direct.context, "bob"))
        accounts.revoke_token(srv.direct.context, tid)
    if token:
        monkeypatch.setenv("DATAVC_TOKEN", token)
    result = run("doctor", code=None)
    assert assert_error(result, 9) == "error: doctor found problems: server token\n"
    assert "BAD  server token" in result.stdout and "fix: run 'datavc login URL'" in result.stdout
    assert "ok   server " in result.stdout
    assert token is None or token not in result.stdout + result.stderr


def test_doctor_unreachable_server_is_exit_7(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAVC_SERVER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("DATAVC_TOKEN", "dvc_x")
    result = run("doctor", code=None)
    assert_error(result, 7)
    assert "BAD  server " in result.stdout and "fix: start 'datavc serve' there" in result.stdout
    monkeypatch.setenv("DATAVC_SERVER", "ftp://example")
    result = run("doctor", code=None)
    assert_error(result, 7)
    assert "fix: set DATAVC_SERVER to http(s)://host:port" in result.stdout


def test_doctor_checks_tls_against_the_ca_bundle(
    served: Callable[..., Server], run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_pem, key_pem, ca_pem = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_pem))
    cert.private_key_pem.write_to_path(str(key_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    srv = served(ssl_certfile=str(cert_pem), ssl_keyfile=str(key_pem))
    monkeypatch.setenv("DATAVC_SERVER", srv.url)
    monkeypatch.setenv("DATAVC_TOKEN", srv.admin_token)
    result = run("doctor", code=None)
    assert_error(result, 7)
    assert "BAD  server TLS" in result.stdout and "not trusted" in result.stdout
    assert "fix: set DATAVC_CA_BUNDLE" in result.stdout
    monkeypatch.setenv("DATAVC_CA_BUNDLE", str(ca_pem))
    out = run("doctor").stdout
    assert f"certificate verified against {ca_pem}" in out and "user admin" in out
