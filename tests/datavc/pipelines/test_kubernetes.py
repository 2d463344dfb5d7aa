"""The kubernetes executor against the fake API server (or a real cluster with DATAVC_TEST_KUBECONFIG).

Worker pods are local processes running ``datavc worker`` with the store's database and
object store from a Secret, exactly as in a cluster (minus the container). Every Job the
executor creates is validated against the strict Kubernetes schema by the fake server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datavc.client import Client
from datavc.errors import BackendUnavailable
from datavc.pipelines.executors.kubernetes import job_manifest
from datavc.pipelines.spec import PipelineSpec
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import REPO_ROOT, last_job, run_on_fake_cluster, sh

WORDCOUNT = (
    'for f in "$DATAVC_IN"/texts/*; do wc -w < "$f" | tr -d " " > "$DATAVC_OUT/$(basename "$f").count"; done'
)
TOTAL = 'cat "$DATAVC_IN"/wordcount/*.count | awk "{s+=\\$1} END {print s}" > "$DATAVC_OUT/total"'

if os.environ.get("DATAVC_TEST_KUBECONFIG"):
    pytest.skip(
        "real-cluster runs need an image with datavc and a reachable store; "
        "run tests/datavc/pipelines/test_kubernetes.py with a fixture for that cluster",
        allow_module_level=True,
    )


@pytest.fixture
def k8s(fake_k8s: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, Any]]:
    """A store whose pipelines run on the fake cluster; its credentials reach pods via a Secret."""
    c = Client.init(tmp_path / "store")
    run_on_fake_cluster(c, fake_k8s, tmp_path, monkeypatch, "default")
    yield c, fake_k8s
    c.close()


def _wordcount(c: Client, **kw: Any) -> None:
    c.create_pipeline(
        name="wordcount",
        input={"pfs": {"repo": "texts", "glob": "/*"}},
        transform={"image": "registry.example/datavc-wc:1", "cmd": sh(WORDCOUNT)},
        parallelism=2,
        **kw,
    )


def _texts(c: Client) -> None:
    c.create_repo("texts")
    with c.commit("texts", "main") as tx:
        tx.put_file("/a.txt", b"one two three\n")
        tx.put_file("/b.txt", b"four five\n")
        tx.put_file("/c.txt", b"six\n")


def test_executor_manifest_is_a_valid_indexed_job() -> None:
    spec = PipelineSpec.create(
        "Word_Count",
        {"pfs": {"repo": "texts", "glob": "/*"}},
        {"image": "img:1", "cmd": ["true"]},
        parallelism=4,
        datum_tries=3,
        resources={"cpu": "500m", "memory": "256Mi"},
    )
    m = job_manifest(spec, "a" * 32, 3, namespace="ns", secret="creds", image=None, ttl=60)
    js = m["spec"]
    assert m["metadata"]["name"] == "datavc-word-count-" + "a" * 12 and len(m["metadata"]["name"]) <= 63
    assert (js["completionMode"], js["completions"], js["parallelism"], js["backoffLimitPerIndex"]) == (
        "Indexed",
        3,
        3,
        2,
    )
    pod = js["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "creds"}}]
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert "DATAVC_DB" not in str(m)  # credentials never inline

    from tests.k8s.validation import job_errors, schema_errors  # strict schema + apiserver rules

    assert schema_errors(m, strict=True) == []
    assert job_errors(m) == []


def test_pipelines_on_kubernetes_equal_the_local_executor(k8s: tuple[Client, Any], tmp_path: Path) -> None:
    c, server = k8s
    _texts(c)
    _wordcount(c)
    c.create_pipeline(
        name="total",
        input={"pfs": {"repo": "wordcount", "glob": "/"}},
        transform={"image": "registry.example/datavc-wc:1", "cmd": sh(TOTAL)},
    )
    report = c.run()
    assert report.ok, [c.inspect_job(j).message for j in report.failed]
    assert files_of(c, "total") == {"/total": b"6\n"}
    assert len(server.created_jobs) == 2
    assert all(j["spec"]["completionMode"] == "Indexed" for j in server.created_jobs)
    assert not server.jobs, "finished Jobs are deleted"

    # Incremental on Kubernetes too: one new file runs one datum.
    c.put_file("texts", "main", "/d.txt", b"seven eight\n")
    assert c.run().ok
    job = last_job(c, "wordcount")
    assert (job.datums_processed, job.datums_skipped) == (1, 3)
    assert server.created_jobs[-2]["spec"]["completions"] == 1

    # The same specs on the local executor give the same output trees.
    local = Client.init(tmp_path / "local")
    try:
        os.environ.pop("DATAVC_EXECUTOR")
        _texts(local)
        local.put_file("texts", "main", "/d.txt", b"seven eight\n")
        for p in sorted(c.list_pipelines(), key=lambda p: p.created_at):
            local.create_pipeline(p.spec)
        assert local.run().ok
        for repo in ("wordcount", "total"):
            assert local.inspect_commit(repo, "main").tree == c.inspect_commit(repo, "main").tree
    finally:
        local.close()


def test_a_failing_pod_is_retried_then_fails_the_job_with_its_logs(k8s: tuple[Client, Any]) -> None:
    c, server = k8s
    _texts(c)
    before = c.inspect_commit("texts", "main").id
    c.create_pipeline(
        name="boom",
        input={"pfs": {"repo": "texts", "glob": "/"}},
        transform={"image": "img:1", "cmd": sh("echo boom >&2; exit 3")},
        datum_tries=2,
    )
    report = c.run()
    assert report.failed
    job = c.inspect_job(report.failed[0])
    assert job.state == "failure"
    (datum,) = list(c.list_datums(job.id))
    assert (datum.state, datum.exit_code, datum.tries) == ("failed", 3, 2)  # one try per pod attempt
    logs = "".join(text for _, text in c.job_logs(job.id))
    assert "boom" in logs
    assert len(server.created_jobs) == 1
    assert c.inspect_repo("boom").commit_count == 0  # the output branch is unchanged
    assert before == c.inspect_commit("texts", "main").id


def test_a_restarted_scheduler_reattaches_instead_of_creating_a_duplicate(
    k8s: tuple[Client, Any], tmp_path: Path
) -> None:
    c, server = k8s
    _texts(c)
    c.create_pipeline(
        name="slow",
        input={"pfs": {"repo": "texts", "glob": "/*"}},
        transform={"image": "img:1", "cmd": sh('sleep 2; cp "$DATAVC_IN"/texts/* "$DATAVC_OUT"/')},
        parallelism=3,
    )
    script = (
        "import sys; from datavc.client import Client\n"
        "sys.exit(0 if Client.open(sys.argv[1]).run().ok else 8)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DATAVC_JOB_LEASE": "1"}
    home = str(c.config.root)
    first = subprocess.Popen([sys.executable, "-c", script, home], env=env, start_new_session=True)
    try:
        server.wait_for(lambda srv: len(srv.created_jobs) == 1, timeout=60)
        time.sleep(0.5)
        os.killpg(first.pid, signal.SIGKILL)  # the scheduler dies while its pods run
    finally:
        first.wait()
    second = subprocess.run([sys.executable, "-c", script, home], env=env, timeout=120)
    assert second.returncode == 0
    assert len(server.created_jobs) == 1, "the restarted scheduler re-attached to the running Job"
    job = last_job(c, "slow")
    assert job.state == "success"
    assert files_of(c, "slow") == {"/a.txt": b"one two three\n", "/b.txt": b"four five\n", "/c.txt": b"six\n"}
    assert [x.message for x in c.log("slow")] == [f"output of job {job.id[:12]}"]


def test_api_server_unreachable_is_retried_then_a_clear_error(
    k8s: tuple[Client, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, server = k8s
    _texts(c)
    _wordcount(c)
    # Unreachable for a while: retried with backoff, then the job completes.
    server.pause()
    threading.Timer(2.0, server.resume).start()
    assert c.run().ok
    assert len(server.created_jobs) == 1
    # Unreachable for longer than the limit: a clear error, no crash, the job waits for a retry.
    c.put_file("texts", "main", "/d.txt", b"x\n")
    monkeypatch.setenv("DATAVC_K8S_UNREACHABLE_TIMEOUT", "2")
    server.pause()
    try:
        with pytest.raises(BackendUnavailable, match="Kubernetes API is unreachable"):
            c.run()
    finally:
        server.resume()
    assert last_job(c, "wordcount").state == "running"  # reclaimed by the next scheduler after its lease
