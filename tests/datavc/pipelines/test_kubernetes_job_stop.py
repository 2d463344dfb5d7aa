"""'datavc job stop' on the kubernetes executor deletes the running Kubernetes Job at once."""

from __future__ import annotations

import threading
import time
from typing import Any

from datavc.client import Client
from datavc.pipelines.executors.kubernetes import k8s_job_name
from tests.datavc.pipelines.helpers import last_job, sh
from tests.datavc.pipelines.test_kubernetes import k8s

__all__ = ["k8s"]


def test_stopping_a_job_deletes_its_running_kubernetes_job(k8s: tuple[Client, Any]) -> None:
    c, server = k8s
    c.create_repo("in")
    c.put_file("in", "main", "/a", b"a")
    c.create_pipeline(
        name="slow",
        input={"pfs": {"repo": "in", "glob": "/*"}},
        transform={"image": "img:1", "cmd": sh('sleep 60; touch "$DATAVC_OUT/x"')},
    )
    job = last_job(c, "slow")
    name = k8s_job_name("slow", job.id)
    outcome: list[bool] = []
    runner = threading.Thread(target=lambda: outcome.append(c.run().ok))
    started = time.monotonic()
    runner.start()
    server.wait_for(lambda srv: len(srv.created_jobs) == 1, timeout=60)
    while [d.state for d in c.list_datums(job.id)] != ["running"]:
        assert time.monotonic() - started < 30, "the datum never started in its pod"
        time.sleep(0.1)
    assert c.stop_job(job.id).state == "killed"
    runner.join(timeout=40)
    assert not runner.is_alive() and outcome == [False]
    assert time.monotonic() - started < 40  # the 60 s datum was not waited for
    deletes = [p for m, p in server.requests if m == "DELETE" and name in p]
    assert deletes, "the Kubernetes Job of the stopped job was deleted"
    assert name not in server.jobs
    assert c.inspect_job(job.id).state == "killed"
    assert c.inspect_repo("slow").commit_count == 0
