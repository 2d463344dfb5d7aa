"""``datavc doctor`` and ``datavc worker`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.datavc.cli.helpers import Run, assert_error


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
