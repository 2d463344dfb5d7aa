"""``GET /jobs/{job}/work`` plans a job once for all its pods (``datavc/server/work_plans.py``);
a plan is dropped when its job ends, and the cache stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from datavc.client import Client
from datavc.db.models import Datum as DatumRow
from datavc.db.models import Job
from datavc.pipelines import job_tokens, runner
from datavc.pipelines.runner import _record_datums, job_datums, load_job
from datavc.remote import RemoteClient
from datavc.server.work_plans import WorkPlans
from tests.datavc.pipelines.helpers import sh
from tests.datavc.server.conftest import Server, start_server

PODS = 4


@dataclass
class Setup:
    srv: Server
    jobs: list[str]


def _claim(c: Client, job: str) -> None:
    """What a scheduler's claim and the Kubernetes executor's shard assignment record."""
    ctx = c.context
    spec, inputs, pipeline_id, _, _ = load_job(ctx, job)
    _record_datums(ctx, job, pipeline_id, job_datums(ctx, spec, inputs), False)
    with ctx.db.write() as s:
        s.execute(update(Job).where(Job.id == job).values(state="running", worker="test"))
        rows = s.scalars(DatumRow.__table__.select().where(DatumRow.job_id == job)).all()
        for i, row_id in enumerate(rows):
            s.execute(update(DatumRow).where(DatumRow.id == row_id).values(shard=i % PODS))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    direct = Client.init(tmp_path_factory.mktemp("store"))
    srv = start_server(direct)
    try:
        direct.create_repo("texts")
        with direct.commit("texts", "main") as tx:
            for i in range(2 * PODS):
                tx.put_file(f"/f{i}.txt", f"text {i}\n".encode())
        for name in ("up", "down"):
            direct.create_pipeline(
                name=name,
                input={"pfs": {"repo": "texts", "glob": "/*"}},
                transform={"image": "example/upper:1", "cmd": sh("true")},
            )
        jobs = [direct.list_jobs(name)[0].id for name in ("up", "down")]
        for job in jobs:
            _claim(direct, job)
        yield Setup(srv, jobs)
    finally:
        srv.stop()
        direct.close()


def test_n_pods_asking_at_once_cause_one_planning(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = runner.job_datums

    def counting(*args: Any) -> Any:
        calls.append("plan")
        return real(*args)

    monkeypatch.setattr(runner, "job_datums", counting)
    job = setup.jobs[0]
    secret = job_tokens.mint(setup.srv.direct.context, job, timedelta(minutes=5)).secret

    def pod(shard: int) -> list[str]:
        with RemoteClient(setup.srv.url, secret) as c:
            doc = c.call("GET", f"/api/v1/jobs/{job}/work", params={"shard": shard})
        return [d["hash"] for d in doc["datums"]]

    with ThreadPoolExecutor(PODS) as pool:
        shards = list(pool.map(pod, range(PODS)))
    again = pod(0)  # a retried pod
    assert calls == ["plan"], "one planning for every pod of the job"
    assert again == shards[0]
    assert all(len(s) == 2 for s in shards)
    ctx = setup.srv.direct.context
    spec, inputs, _, _, _ = load_job(ctx, job)
    assert sorted(h for s in shards for h in s) == sorted(d.hash for d in real(ctx, spec, inputs))


def test_a_plan_is_dropped_when_its_job_ends_and_the_cache_is_bounded(setup: Setup) -> None:
    ctx = setup.srv.direct.context
    plans = WorkPlans(max_datums=10)
    loaded = {job: load_job(ctx, job) for job in setup.jobs}
    first, second = setup.jobs
    a = plans.datums(ctx, first, loaded[first][0], loaded[first][1])
    assert plans.datums(ctx, first, loaded[first][0], loaded[first][1]) is a
    assert (plans.plannings, len(plans)) == (1, 1)
    # Two jobs of 8 datums exceed 10: the older plan goes.
    plans.datums(ctx, second, loaded[second][0], loaded[second][1])
    assert (plans.plannings, len(plans)) == (2, 1)
    plans.datums(ctx, first, loaded[first][0], loaded[first][1])
    assert plans.plannings == 3
    # Inputs that moved (a restarted job) are planned again, replacing the old plan.
    moved = {k: None for k in loaded[first][1]}
    assert plans.datums(ctx, first, loaded[first][0], moved) == []
    assert (plans.plannings, len(plans)) == (4, 1)
    # The job ends: its plan is dropped at the next request (for any job).
    with ctx.db.write() as s:
        s.execute(update(Job).where(Job.id == first).values(state="success"))
    try:
        plans.datums(ctx, second, loaded[second][0], loaded[second][1])
        assert len(plans) == 1 and plans.plannings == 5
        with ctx.db.write() as s:
            s.execute(update(Job).where(Job.id == second).values(state="killed"))
        plans._forget_ended(ctx)
        assert len(plans) == 0
    finally:
        with ctx.db.write() as s:
            s.execute(update(Job).where(Job.id.in_(setup.jobs)).values(state="running"))
