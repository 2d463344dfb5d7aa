"""Datum batching under a crash, and the durability rule of its records.

- A scheduler SIGKILLed while a batched transform works through its datums: the next
  scheduler resumes after the last RECORDED datum (those are not run again) and the output
  equals an uninterrupted run's.
- A datum is reported to the recorder only once every object of its output has been
  flushed (the group commit of ``OutputStore``): checked at each report, on the real
  local backend of a store, by recording what its ``sync`` flushed.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from datavc.client import Client
from datavc.db.models import Datum as DatumRow
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome
from datavc.pipelines.executors.outputs import OutputStore
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import runlog_lines
from tests.datavc.pipelines.test_reliability import Scheduler, start

# One line in $RUNLOG per datum it starts; a while per datum, so the kill lands mid-job.
SLOW_PY = """
import os, time, datavc
for d in datavc.datums():
    (name,) = os.listdir(d.inputs["A"])
    with open(os.environ["RUNLOG"], "a") as log:
        log.write(name + "\\n")
    time.sleep(0.3)
    data = open(os.path.join(d.inputs["A"], name)).read()
    open(os.path.join(d.output_dir, name), "w").write(data.upper())
"""
INPUT = {f"/f{i}": f"content {i}\n".encode() for i in range(8)}


def _store(home: Path, runlog: Path) -> Client:
    c = Client.init(home)
    c.create_repo("A")
    with c.commit("A", "main") as tx:
        for path, data in INPUT.items():
            tx.put_file(path, data)
    c.create_pipeline(
        name="P",
        input={"pfs": {"repo": "A", "glob": "/*"}},
        transform={
            "cmd": [sys.executable, "-c", SLOW_PY],
            "datum_batching": True,
            "env": {"RUNLOG": str(runlog)},
        },
    )
    return c


def test_a_killed_batched_job_resumes_after_the_last_recorded_datum(
    tmp_path: Path, schedulers: list[Scheduler]
) -> None:
    runlog = tmp_path / "runs.log"
    home = tmp_path / "store"
    client = _store(home, runlog)
    try:
        (job,) = client.list_jobs("P")
        start(schedulers, home, runlog).kill_after_successes(client, job.id, 2, timeout=60)

        datums = list(client.list_datums(job.id))
        file_of = {d.id: d.inputs[0][1].lstrip("/") for d in datums}
        recorded = {file_of[d.id] for d in datums if d.state == "success"}
        assert 2 <= len(recorded) < len(INPUT), "the kill must land in the middle of the job"
        # What a recorded datum points at is stored intact (it was flushed before the record).
        store = client.context.store
        for d in datums:
            if d.state == "success":
                assert d.output_tree is not None
                ((name, entry),) = list(store.trees.walk(d.output_tree))
                assert b"".join(store.iter_content(entry)) == INPUT["/" + name].upper()
        assert client.fsck().ok

        with client.context.db.read() as s:
            notes = s.scalars(select(DatumRow.process).where(DatumRow.job_id == job.id)).all()
        scratch = {json.loads(n)["scratch"] for n in notes if n}
        assert scratch and all(Path(p).is_dir() for p in scratch)  # what the killed worker left

        second = start(schedulers, home, runlog, DATAVC_JOB_LEASE="1")
        assert second.report(timeout=90) == {"succeeded": [job.id], "failed": []}
        # The resume removed the dead worker's scratch (staged inputs, in /dev/shm: memory).
        assert not any(Path(p).exists() for p in scratch), scratch
        done = client.inspect_job(job.id)
        assert (done.state, done.datums_total, done.datums_processed) == ("success", 8, 8), done.message

        runs = Counter(runlog_lines(runlog))
        assert set(runs) == {p.lstrip("/") for p in INPUT}
        for f in recorded:  # resumed after the last recorded datum: none of them ran again
            assert runs[f] == 1, (f, runs)
        assert files_of(client, "P") == {p: data.upper() for p, data in INPUT.items()}
        assert client.fsck().ok
    finally:
        client.close()


def test_a_datum_is_reported_only_after_its_outputs_are_flushed(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "store")
    try:
        ctx = c.context
        backend: Any = ctx.store.backend
        flushed: set[str] = set()
        real_sync = backend.sync

        def sync(oids: list[str]) -> None:
            real_sync(oids)
            flushed.update(oids)

        backend.sync = sync
        unflushed: list[str] = []

        def on_done(d: Datum, o: Outcome) -> None:  # what the recorder is handed
            assert o.output_tree is not None
            oids = {o.output_tree} | {r.oid for _, e in ctx.store.trees.walk(o.output_tree) for r in e.refs}
            unflushed.extend(sorted(oids - flushed))

        outputs = OutputStore(ctx, on_done)
        try:
            for i in range(40):
                out = tmp_path / f"out{i}"
                out.mkdir()
                (out / "result").write_bytes(f"datum {i}\n".encode())
                (out / "same").write_bytes(b"every datum writes this\n")
                tree = outputs.put_dir(out)
                d = Datum((), f"{i:064x}")
                outputs.report(d, Outcome(True, 1, 0, "", 0.0, tree))
                if i % 10 == 0:
                    time.sleep(0.06)  # a few barriers, not one
        finally:
            outputs.close()
        assert unflushed == []
        assert len(flushed) >= 40  # every datum's tree at least
    finally:
        c.close()
