"""The stop check before each datum (``orphans.ensure_running``) reads the database at most
once per ``STOP_CHECK_SECONDS`` per job, and never misses a stop for longer than that."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from datavc.client import Client
from datavc.pipelines import orphans
from tests.datavc.pipelines.helpers import sh


def test_the_stop_check_reads_at_most_every_interval_and_sees_a_stop(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store") as c:
        c.create_repo("a")
        c.put_file("a", "main", "/f", b"x")
        c.create_pipeline(name="p", input={"pfs": {"repo": "a", "glob": "/*"}}, transform={"cmd": sh("true")})
        job = c.list_jobs("p", limit=1)[0].id
        ctx = c.context
        reads: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "FROM jobs" in statement:
                reads.append(statement)

        event.listen(ctx.db.engine, "before_cursor_execute", count)
        try:
            started = time.monotonic()
            for _ in range(1000):  # a thousand datum starts in a burst
                orphans.ensure_running(ctx, job)
            elapsed = time.monotonic() - started
            assert 1 <= len(reads) <= 2 + elapsed / orphans.STOP_CHECK_SECONDS
            orphans.ensure_running(ctx, job, fresh=True)  # fresh: read now
            assert len(reads) >= 2
            c.stop_job(job)
            time.sleep(orphans.STOP_CHECK_SECONDS)
            with pytest.raises(orphans.JobStopped):
                orphans.ensure_running(ctx, job)
            n = len(reads)
            with pytest.raises(orphans.JobStopped):  # killed is final: no read needed again
                orphans.ensure_running(ctx, job)
            assert len(reads) == n
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", count)


def test_a_fresh_check_sees_a_stop_at_once(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store") as c:
        c.create_repo("a")
        c.put_file("a", "main", "/f", b"x")
        c.create_pipeline(name="p", input={"pfs": {"repo": "a", "glob": "/*"}}, transform={"cmd": sh("true")})
        job = c.list_jobs("p", limit=1)[0].id
        orphans.ensure_running(c.context, job)
        c.stop_job(job)
        with pytest.raises(orphans.JobStopped):
            orphans.ensure_running(c.context, job, fresh=True)
