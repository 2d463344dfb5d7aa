"""A job's datums, planned once per job for all its worker pods (``GET /jobs/{job}/work``).

Why: planning a job lists and hashes every input file (seconds for 100,000 datums), and a
Kubernetes job has one pod per shard, each asking for its datums at start, and again at
every retry. Without a cache N pods plan the job N times at once on the server. The datum
rows cannot stand in for the plan: they keep a datum's key (input, path, content hash),
not the entries (kind, size, count, mount, join groups) a pod needs to stage it.

The cache is per server process, keyed by the job and exactly what the plan depends on
(the job's spec and input commits), so a restarted job whose inputs moved is planned
again. It is bounded by the number of datums it holds, and a job's plan is dropped as soon
as the job ends (checked with one query per request). Concurrent requests for one job
wait for a single planning ("single flight").
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from sqlalchemy import select

from datavc.context import Context
from datavc.db.models import Job

if TYPE_CHECKING:
    from datavc.pipelines.datums import Datum
    from datavc.pipelines.spec import PipelineSpec

MAX_DATUMS = 200_000  # across cached jobs; the newest plan is kept even if it alone is larger
LIVE = ("created", "running")

_Key = tuple[str, str]  # (job id, digest of the spec and the input commits)


class WorkPlans:
    """Bounded, thread-safe cache: job -> its planned datums."""

    def __init__(self, max_datums: int = MAX_DATUMS) -> None:
        self.max_datums = max_datums
        self.plannings = 0  # how many times a job was planned (for tests and logs)
        self._plans: OrderedDict[_Key, list[Datum]] = OrderedDict()
        self._flights: dict[_Key, threading.Lock] = {}
        self._lock = threading.Lock()

    def datums(
        self, ctx: Context, job: str, spec: PipelineSpec, inputs: dict[str, str | None]
    ) -> list[Datum]:
        """Every datum of ``job`` (all shards), planned at most once while the job runs."""
        from datavc.pipelines.runner import job_datums

        self._forget_ended(ctx)
        digest = hashlib.sha256(
            json.dumps([spec.canonical_json(), inputs], sort_keys=True).encode()
        ).hexdigest()
        key = (job, digest)
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            with self._lock:
                plan = self._plans.get(key)
            if plan is not None:
                return plan  # planned by the request we waited for
            try:
                plan = job_datums(ctx, spec, inputs)
            finally:
                with self._lock:
                    self._flights.pop(key, None)
            with self._lock:
                self.plannings += 1
                for other in [k for k in self._plans if k[0] == job]:
                    del self._plans[other]  # an older plan of the same job (its inputs moved)
                self._plans[key] = plan
                self._evict()
            return plan

    def _evict(self) -> None:
        total = sum(len(p) for p in self._plans.values())
        while total > self.max_datums and len(self._plans) > 1:
            _, oldest = self._plans.popitem(last=False)
            total -= len(oldest)

    def _forget_ended(self, ctx: Context) -> None:
        """Drop the plans of jobs that ended (or were deleted) since they were planned."""
        with self._lock:
            jobs = {k[0] for k in self._plans}
        if not jobs:
            return
        with ctx.db.read() as s:
            live = set(s.scalars(select(Job.id).where(Job.id.in_(jobs), Job.state.in_(LIVE))))
        with self._lock:
            for key in [k for k in self._plans if k[0] not in live]:
                del self._plans[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._plans)
