"""Helpers shared by the pipeline semantics and reliability tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from datavc.client import Client
from datavc.info import JobInfo
from tests.datavc.helpers import files_of

# Lists the datum's staged inputs (paths relative to $DATAVC_IN, sorted) into one output
# file named after the datum: the output tree then shows exactly how the inputs were laid out.
LIST_INPUTS = 'cd "$DATAVC_IN" && find . -type f | sed "s|^\\./||" | sort > "$DATAVC_OUT/$DATAVC_DATUM_ID"'


def sh(script: str) -> list[str]:
    """A transform ``cmd`` running ``script`` with ``sh -c``."""
    return ["sh", "-c", script]


def upper_copy(input_name: str, runlog: Path | None = None) -> str:
    """A shell transform: every staged file of ``input_name`` -> the same path in
    ``$DATAVC_OUT``, upper-cased; with ``runlog``, one line per run appended to it first."""
    log = (
        f'echo "$DATAVC_DATUM_ID $(cd "$DATAVC_IN" && find . -type f | sort | tr "\\n" " ")" >> {runlog}; '
        if runlog
        else ""
    )
    return (
        log
        + f'cd "$DATAVC_IN/{input_name}" && find . -type f | while read -r f; do '
        + 'mkdir -p "$DATAVC_OUT/$(dirname "$f")"; tr a-z A-Z < "$f" > "$DATAVC_OUT/$f"; done'
    )


def repo_of_files(client: Client, repo: str, n: int, content: str = "{i}\n") -> None:
    """Create ``repo`` with files ``/f0`` .. ``/f{n-1}`` (``content`` formatted with ``i``) in one commit."""
    client.create_repo(repo)
    with client.commit(repo, "main") as tx:
        for i in range(n):
            tx.put_file(f"/f{i}", content.format(i=i).encode())


def run_ok(client: Client) -> list[str]:
    """Run every pending job in this process; all must succeed. Returns the job ids."""
    report = client.run()
    if not report.ok:
        msgs = [f"{j}: {client.inspect_job(j).message}" for j in report.failed]
        raise AssertionError("jobs failed: " + "; ".join(msgs))
    return report.succeeded


def jobs(client: Client, pipeline: str) -> list[JobInfo]:
    """A pipeline's jobs, oldest first."""
    return list(reversed(client.list_jobs(pipeline)))


def last_job(client: Client, pipeline: str) -> JobInfo:
    return client.list_jobs(pipeline, limit=1)[0]


def listings(client: Client, repo: str, ref: str = "main") -> set[tuple[str, ...]]:
    """What ``LIST_INPUTS`` wrote: one tuple of staged input paths per datum."""
    return {tuple(b.decode().split()) for b in files_of(client, repo, ref).values()}


def runlog_lines(runlog: Path) -> list[str]:
    return runlog.read_text().splitlines() if runlog.exists() else []


REPO_ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent


def run_on_fake_cluster(
    c: Client, fake_k8s: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, namespace: str
) -> None:
    """Make ``c``'s pipelines run on the fake cluster in ``namespace``: the store's
    credentials reach the pods through the Secret ``datavc-credentials``; the pods run
    this checkout's datavc with their ``/pfs`` under ``tmp_path``."""
    from kubernetes import client, config

    config.load_kube_config(config_file=str(fake_k8s.kubeconfig_path))
    client.CoreV1Api().create_namespaced_secret(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "datavc-credentials"},
            "stringData": {"DATAVC_DB": c.config.db, "DATAVC_OBJECTS": c.config.objects},
        },
    )
    _pods_run_this_checkout(fake_k8s, tmp_path, monkeypatch, namespace)
    monkeypatch.setenv("DATAVC_K8S_SECRET", "datavc-credentials")


def run_on_fake_cluster_via_server(
    server_url: str,
    fake_k8s: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    namespace: str = "default",
) -> None:
    """Make pipelines run on the fake cluster with worker pods that hold a job token and
    talk to the datavc server at ``server_url`` (``DATAVC_K8S_SERVER``), not the store."""
    from kubernetes import config

    config.load_kube_config(config_file=str(fake_k8s.kubeconfig_path))
    _pods_run_this_checkout(fake_k8s, tmp_path, monkeypatch, namespace)
    monkeypatch.setenv("DATAVC_K8S_SERVER", server_url)


def _pods_run_this_checkout(
    fake_k8s: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, namespace: str
) -> None:
    """The pods run this checkout's datavc, each with its ``/pfs`` under ``tmp_path``."""
    fake_k8s.env_overrides.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(REPO_ROOT),
        DATAVC_PFS_ROOT=str(tmp_path / "pfs-{pod}"),
    )
    monkeypatch.setenv("DATAVC_EXECUTOR", "kubernetes")
    monkeypatch.setenv("DATAVC_K8S_NAMESPACE", namespace)
