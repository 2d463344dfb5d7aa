"""Worker pods on the fake Kubernetes API server with a datavc server: they get a job token in
a per-job Secret (deleted after the job), never the database URL or bucket keys."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from datavc import audit
from datavc.client import Client
from datavc.db.models import JobToken
from datavc.pipelines.executors.job_secrets import TOKEN_KEY, secret_name
from datavc.pipelines.executors.kubernetes import JOB_LABEL, job_manifest
from datavc.pipelines.spec import PipelineSpec
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import run_on_fake_cluster_via_server, sh
from tests.datavc.server.conftest import Server, start_server

UPPER = 'for f in "$DATAVC_IN"/texts/*; do tr a-z A-Z < "$f" > "$DATAVC_OUT/$(basename "$f")"; done'
CREDENTIALS = ("DATAVC_DB", "DATAVC_OBJECTS", "AWS_", "PGPASSWORD", "datavc-credentials")


def test_the_manifest_with_a_server_names_the_jobs_secret_and_no_credentials() -> None:
    spec = PipelineSpec.create("p", {"pfs": {"repo": "r", "glob": "/*"}}, {"image": "img:1", "cmd": ["true"]})
    m = job_manifest(
        spec,
        "b" * 32,
        1,
        namespace="ns",
        secret=secret_name("b" * 32),
        image=None,
        ttl=60,
        server="http://s:8420",
    )
    container = m["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "datavc-job-" + "b" * 12}}]
    assert {"name": "DATAVC_SERVER", "value": "http://s:8420"} in container["env"]
    assert not any(word in json.dumps(m) for word in CREDENTIALS)

    from tests.k8s.validation import job_errors, schema_errors

    assert schema_errors(m, strict=True) == [] and job_errors(m) == []


def test_worker_pods_hold_a_job_token_not_store_credentials(
    fake_k8s: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes import client, config

    srv = start_server(Client.init(tmp_path / "store"))
    try:
        _run_on_fake_cluster(srv, fake_k8s, tmp_path, monkeypatch, client, config)
    finally:
        srv.stop()
        srv.direct.close()


def _run_on_fake_cluster(
    srv: Server, fake_k8s: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: Any, config: Any
) -> None:
    c = srv.direct
    c.create_repo("texts")
    with c.commit("texts", "main") as tx:
        tx.put_file("/a.txt", b"one\n")
        tx.put_file("/b.txt", b"two\n")
    c.create_pipeline(
        name="upper",
        input={"pfs": {"repo": "texts", "glob": "/*"}},
        transform={"image": "registry.example/upper:1", "cmd": sh(UPPER)},
        parallelism=2,
    )
    run_on_fake_cluster_via_server(srv.url, fake_k8s, tmp_path, monkeypatch)
    core = client.CoreV1Api()

    seen: dict[str, set[str]] = {}  # Secrets of jobs seen while the job ran -> their keys
    stop = threading.Event()

    def watch_secrets() -> None:
        while not stop.wait(0.05):
            for s in core.list_namespaced_secret("default", label_selector=JOB_LABEL).items:
                seen[s.metadata.name] = set(s.data or {})

    watcher = threading.Thread(target=watch_secrets, daemon=True)
    watcher.start()
    try:
        report = c.run()
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert report.ok, [c.inspect_job(j).message for j in report.failed]
    assert files_of(c, "upper") == {"/a.txt": b"ONE\n", "/b.txt": b"TWO\n"}

    job = c.list_jobs("upper")[0].id
    assert seen == {secret_name(job): {TOKEN_KEY}}, "one Secret, holding the job token only"
    manifest = fake_k8s.created_jobs[0]
    text = json.dumps(manifest)
    assert not any(word in text for word in CREDENTIALS)
    assert c.config.db not in text and c.config.objects not in text
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": secret_name(job)}}]
    # After the job: the Secret is gone and the token revoked (only its hash was ever stored).
    assert core.list_namespaced_secret("default", label_selector=JOB_LABEL).items == []
    with c.context.db.read() as s:
        tokens = s.execute(
            select(JobToken.revoked_at, JobToken.expires_at).where(JobToken.job_id == job)
        ).all()
    assert tokens and all(revoked is not None for revoked, _ in tokens)
    # The pods acted as the pipeline's identity: the audit log names it for their uploads.
    actions = {e.action for e in audit.list_entries(c.context) if e.user == "pipeline:upper"}
    assert {"worker_start", "worker_output", "worker_done"} <= actions
