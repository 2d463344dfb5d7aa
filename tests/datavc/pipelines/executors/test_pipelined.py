"""The unsandboxed executor keeps the next datum waiting in the thread's shim: a failed try
queued behind it still runs again, and a datum that waited past the job's timeout is not
started. SQLite store, scheduler in the test process, real shim and processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from datavc.client import Client
from datavc.pipelines import reaper
from tests.datavc.helpers import files_of as files
from tests.datavc.pipelines.helpers import last_job, repo_of_files, sh

pytestmark = pytest.mark.skipif(not reaper.SUPPORTED, reason="the serving shim is Linux-only")


def _store(tmp_path: Path, n: int) -> Client:
    c = Client.init(tmp_path / "store")
    repo_of_files(c, "A", n)
    return c


def test_a_failed_try_runs_again_behind_the_datum_queued_after_it(tmp_path: Path) -> None:
    flag = tmp_path / "fail-once"
    flag.touch()
    # f1's first try fails (and removes the flag); every datum copies its file.
    script = (
        'if [ -e "$DATAVC_IN/A/f1" ] && [ -e "$FLAG" ]; then rm "$FLAG"; echo first try >&2; exit 3; fi; '
        'cp "$DATAVC_IN"/A/* "$DATAVC_OUT/"'
    )
    with _store(tmp_path, 4) as c:
        c.create_pipeline(
            name="P",
            input={"pfs": {"repo": "A", "glob": "/*"}},
            transform={"cmd": sh(script), "env": {"FLAG": str(flag)}},
            datum_tries=2,
        )
        assert c.run().ok
        job = last_job(c, "P")
        assert (job.datums_processed, job.datums_failed) == (4, 0)
        assert files(c, "P") == {f"/f{i}": f"{i}\n".encode() for i in range(4)}
        tries = sorted(d.tries for d in c.list_datums(job.id))
        assert tries == [1, 1, 1, 2]
        logs = "".join(text for _, text in c.job_logs(job.id))
        assert "[try 2/2]" in logs  # the datum's logs are its last try's


def test_a_datum_that_waited_past_the_job_timeout_does_not_start(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    ran.mkdir()
    # The first datum outlasts the job's timeout; the one queued behind it must not start.
    script = 'touch "$RAN/$(ls "$DATAVC_IN/A")"; [ -e "$DATAVC_IN/A/f0" ] && sleep 30; true'
    with _store(tmp_path, 2) as c:
        c.create_pipeline(
            name="P",
            input={"pfs": {"repo": "A", "glob": "/*"}},
            transform={"cmd": sh(script), "env": {"RAN": str(ran)}},
            datum_tries=1,
            job_timeout=2,
        )
        assert not c.run().ok
        job = last_job(c, "P")
        assert job.state == "failure"
        assert sorted(p.name for p in ran.iterdir()) == ["f0"]
        codes = sorted(d.exit_code for d in c.list_datums(job.id) if d.exit_code is not None)
        assert codes == [-9, -9]
        logs = "".join(text for _, text in c.job_logs(job.id))
        assert "killed after the job timeout of 2" in logs
