"""Scheduling edge cases: branch moves trigger jobs, a reclaimed job is lost to its old scheduler,
special files in the output are skipped, timeouts kill the whole process group."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import update

from datavc.client import Client
from datavc.db.models import Job
from datavc.pipelines.executors.local import LocalExecutor
from datavc.pipelines.runner import run_job
from datavc.pipelines.scheduler import claim
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import last_job, run_ok, sh


def _client(tmp_path: Path) -> Client:
    c = Client.init(tmp_path / "store")
    c.create_repo("texts")
    return c


def _copy_pipeline(c: Client, **kw: object) -> None:
    c.create_pipeline(
        name="copy",
        input={"pfs": {"repo": "texts", "glob": "/*"}},
        transform={"cmd": sh('cp -r "$DATAVC_IN"/texts/* "$DATAVC_OUT"/')},
        **kw,
    )


def test_branch_reset_and_create_trigger_pipelines(tmp_path: Path) -> None:
    c = _client(tmp_path)
    c.put_file("texts", "main", "/a.txt", b"a")
    c.put_file("texts", "main", "/b.txt", b"b")
    _copy_pipeline(c)
    run_ok(c)
    assert set(files_of(c, "copy")) == {"/a.txt", "/b.txt"}
    c.reset_branch("texts", "main", "main~1")
    run_ok(c)
    assert set(files_of(c, "copy")) == {"/a.txt"}
    assert last_job(c, "copy").datums_processed == 0  # known datum: reused
    c.create_pipeline(
        name="devcopy",
        input={"pfs": {"repo": "texts", "branch": "dev", "glob": "/*"}},
        transform={"cmd": sh('cp -r "$DATAVC_IN"/texts/* "$DATAVC_OUT"/')},
    )
    assert c.list_jobs("devcopy") == []  # no branch yet, nothing to do
    c.create_branch("texts", "dev", "main")
    run_ok(c)
    assert set(files_of(c, "devcopy")) == {"/a.txt"}
    c.close()


def test_a_reclaimed_job_is_lost_to_its_old_scheduler(tmp_path: Path) -> None:
    c = _client(tmp_path)
    c.put_file("texts", "main", "/a.txt", b"a")
    _copy_pipeline(c)
    ctx = c.context
    job = claim(ctx, "old-scheduler")
    assert job is not None
    with ctx.db.write() as s:  # its lease expired and another scheduler took it over
        s.execute(update(Job).where(Job.id == job).values(worker="new-scheduler"))
    assert run_job(ctx, job, "old-scheduler", LocalExecutor(tmp_path / "scratch")) == "lost"
    info = c.inspect_job(job)
    assert info.state == "running" and info.worker == "new-scheduler"
    assert c.list_open_commits("copy") == []  # the old scheduler's output commit was dropped
    assert run_job(ctx, job, "new-scheduler", LocalExecutor(tmp_path / "scratch")) == "success"
    assert files_of(c, "copy") == {"/a.txt": b"a"}
    c.close()


def test_special_files_in_the_output_are_skipped(tmp_path: Path) -> None:
    c = _client(tmp_path)
    c.put_file("texts", "main", "/a.txt", b"a")
    c.create_pipeline(
        name="weird",
        input={"pfs": {"repo": "texts", "glob": "/"}},
        transform={"cmd": sh('mkfifo "$DATAVC_OUT/pipe"; echo ok > "$DATAVC_OUT/real.txt"')},
    )
    run_ok(c)
    assert files_of(c, "weird") == {"/real.txt": b"ok\n"}
    c.close()


def test_a_timeout_kills_what_the_transform_started(tmp_path: Path) -> None:
    c = _client(tmp_path)
    c.put_file("texts", "main", "/a.txt", b"a")
    marker = tmp_path / "still-running"
    c.create_pipeline(
        name="slow",
        input={"pfs": {"repo": "texts", "glob": "/"}},
        transform={"cmd": sh(f"(sleep 3; touch {marker}) & sleep 30")},
        datum_timeout=1,
        datum_tries=1,
    )
    started = time.monotonic()
    report = c.run()
    assert report.failed and time.monotonic() - started < 20
    assert "timeout" in "".join(logs for _, logs in c.job_logs(report.failed[0]))
    time.sleep(3.5)
    assert not marker.exists(), "a background process of the timed-out datum kept running"
    c.close()
