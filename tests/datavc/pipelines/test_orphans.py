"""A datum never runs twice at once, and a dead scheduler's transform and scratch go away.

- End to end: ``datavc run`` SIGKILLed mid-datum (only the scheduler: its transform is
  orphaned), then a new scheduler with a short lease: the orphan is killed, the scratch
  directory removed, and the datum's side effect (lines appended to a file outside the
  store) shows it never ran concurrently with itself.
- The reclaim path itself (``orphans.clean_up_job``) on a recorded shim that is still
  alive, and its guard against a pid now used by another process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.db.models import Datum as DatumRow
from datavc.pipelines import orphans, reaper
from tests.datavc.pipelines.helpers import sh

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the subreaper needs Linux")

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEDULER = """
import json, sys
from datavc.client import Client
with Client.open(sys.argv[1]) as c:
    report = c.run()
print(json.dumps({"succeeded": report.succeeded, "failed": report.failed}))
"""
# 15 ticks of 0.2 s, each appending "<pid> <tick>" to $LOG (outside the store).
TICKER = (
    'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do echo "$$ $i" >> "$LOG"; sleep 0.2; done; '
    'echo ok > "$DATAVC_OUT/x"'
)


def _alive(pid: int) -> bool:
    return reaper.start_time(pid) is not None


def _scheduler(home: Path, tmp: Path, out: Path, **env: str) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DATAVC_")}
    full.update(PYTHONPATH=str(REPO_ROOT), TMPDIR=str(tmp), **env)
    with out.open("wb") as f:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-c", SCHEDULER, str(home)],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=full,
            cwd=str(REPO_ROOT),
            start_new_session=True,
        )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_a_killed_run_leaves_no_orphan_and_the_datum_never_runs_twice_at_once(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    home, tmp, log = tmp_path / "store", tmp_path / "tmp", tmp_path / "ticks.log"
    tmp.mkdir()
    with Client.init(home) as c:
        c.create_repo("A")
        c.put_file("A", "main", "/f", b"f")
        c.create_pipeline(
            name="P",
            input={"pfs": {"repo": "A", "glob": "/"}},
            transform={"cmd": sh(TICKER), "env": {"LOG": str(log)}},
        )
        (job,) = c.list_jobs("P")

    first = _scheduler(home, tmp, tmp_path / "first.out")
    procs.append(first)
    deadline = time.monotonic() + 30
    while len(log.read_text().splitlines() if log.exists() else []) < 2:
        assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.out").read_text()
        time.sleep(0.05)
    first_pid = int(log.read_text().split()[0])
    os.kill(first.pid, signal.SIGKILL)  # the scheduler alone: its transform is orphaned
    first.wait()

    second = _scheduler(home, tmp, tmp_path / "second.out", DATAVC_JOB_LEASE="1")
    procs.append(second)
    second.wait(timeout=60)
    report = json.loads((tmp_path / "second.out").read_text().strip().splitlines()[-1])
    assert report == {"succeeded": [job.id], "failed": []}
    time.sleep(0.5)  # an orphan still ticking would write now

    assert not _alive(first_pid), "the killed run's transform is still running"
    ticks = [line.split() for line in log.read_text().splitlines()]
    pids = [pid for pid, _ in ticks]
    first_run = [i for i, pid in enumerate(pids) if pid == str(first_pid)]
    rerun = [i for i, pid in enumerate(pids) if pid != str(first_pid)]
    assert len(first_run) < 15, "the first run was never interrupted"
    assert max(first_run) < min(rerun), f"the datum ran twice at once: {pids}"
    assert len(rerun) == 15 and len(set(pids)) == 2
    assert list(tmp.iterdir()) == [], "scratch left behind"
    with Client.open(home) as c:
        done = c.inspect_job(job.id)
        assert done.state == "success"
        assert done.datums_total == done.datums_processed + done.datums_skipped + done.datums_failed == 1


def _job_with_a_datum_row(c: Client) -> str:
    c.create_repo("A")
    c.put_file("A", "main", "/f", b"f")
    c.create_pipeline(name="P", input={"pfs": {"repo": "A", "glob": "/"}}, transform={"cmd": ["true"]})
    (job,) = c.list_jobs("P")
    with c._ctx.db.write() as s:
        s.add(DatumRow(job_id=job.id, datum_hash="d" * 64, key="[]", state="running"))
    return job.id


def test_clean_up_kills_a_recorded_shim_with_its_daemons_and_removes_its_scratch(tmp_path: Path) -> None:
    scratch = tmp_path / f"{orphans.RUN_PREFIX}x" / f"{orphans.DATUM_PREFIX}y"
    (scratch / "out").mkdir(parents=True)
    with Client.init(tmp_path / "store") as c:
        job = _job_with_a_datum_row(c)
        shim = subprocess.Popen(
            reaper.shim_argv(["sh", "-c", "(setsid sleep 1000 </dev/null >/dev/null 2>&1 &); sleep 1000"]),
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 10
            while len(reaper.descendants(shim.pid)) < 3:  # sh, sleep, the daemon's sleep
                assert time.monotonic() < deadline, reaper.descendants(shim.pid)
                time.sleep(0.02)
            below = reaper.descendants(shim.pid)
            orphans.record(c._ctx, job, "d" * 64, shim.pid, scratch_dir=scratch)
            assert orphans.clean_up_job(c._ctx, job)
            shim.wait(timeout=10)
            assert not any(_alive(p) for p in below)
            assert not scratch.exists() and not scratch.parent.exists()
            with c._ctx.db.read() as s:
                assert s.get(DatumRow, 1) is None or all(r.process is None for r in s.query(DatumRow).all())
        finally:
            if shim.poll() is None:
                os.killpg(shim.pid, signal.SIGKILL)
                shim.wait()


def test_clean_up_leaves_a_reused_pid_and_foreign_paths_alone(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "1000"])
    outside = tmp_path / "precious"
    outside.mkdir()
    try:
        with Client.init(tmp_path / "store") as c:
            job = _job_with_a_datum_row(c)
            orphans.record(c._ctx, job, "d" * 64, other.pid, scratch_dir=outside)
            with c._ctx.db.write() as s:  # as if the pid had since been reused by another process
                row = s.query(DatumRow).one()
                note = json.loads(row.process or "")
                row.process = json.dumps({**note, "start": note["start"] - 1})
            assert orphans.clean_up_job(c._ctx, job)
        assert other.poll() is None, "an unrelated process with the recorded pid was killed"
        assert outside.exists(), "a directory that is not a datavc scratch directory was removed"
    finally:
        other.kill()
        other.wait()
