"""``transform.datum_batching`` on worker pods that hold a job token (``datavc/remote_worker.py``):
each pod starts the transform once and runs its shard's datums through the worker routes,
on the fake Kubernetes API server with a real datavc server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from datavc import audit
from datavc.client import Client
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.executors.test_batched import PY
from tests.datavc.pipelines.helpers import run_on_fake_cluster_via_server
from tests.datavc.server.conftest import start_server

N = 4


def test_batched_datums_run_through_the_worker_routes(
    fake_k8s: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = start_server(Client.init(tmp_path / "store"))
    c = srv.direct
    try:
        c.create_repo("A")
        with c.commit("A", "main") as tx:
            for i in range(N):
                tx.put_file(f"/f{i:02d}", f"v{i}".encode())
        c.create_pipeline(
            name="upper",
            input={"pfs": {"repo": "A", "glob": "/*"}},
            transform={
                "image": "registry.example/upper:1",
                "cmd": [sys.executable, "-c", PY],
                "datum_batching": True,
            },
            parallelism=2,
        )
        run_on_fake_cluster_via_server(srv.url, fake_k8s, tmp_path, monkeypatch)

        report = c.run()
        assert report.ok, [c.inspect_job(j).message for j in report.failed]
        out = files_of(c, "upper")
        assert {k: v for k, v in out.items() if not k.endswith(".pid")} == {
            f"/f{i:02d}": f"V{i}".encode() for i in range(N)
        }
        pids = {v for k, v in out.items() if k.endswith(".pid")}
        assert 1 <= len(pids) <= 2, "one transform process per pod, not one per datum"
        job = c.list_jobs("upper")[0]
        assert (job.datums_total, job.datums_processed, job.datums_failed) == (N, N, 0)
        # Each datum was started and reported through the routes, as the pipeline's identity.
        actions = [e.action for e in audit.list_entries(c.context) if e.user == "pipeline:upper"]
        assert actions.count("worker_start") == actions.count("worker_done") == N
        assert actions.count("worker_output") == N
        assert "DATAVC_DB" not in str(fake_k8s.created_jobs[0])
    finally:
        srv.stop()
        srv.direct.close()
