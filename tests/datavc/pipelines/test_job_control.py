"""Stopping a job while its datums run (``datavc.pipelines.job_control``): the running datum's
process dies, no other datum starts, nothing is committed; ``job logs --follow``."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from click.testing import CliRunner

from datavc.client import Client
from tests.datavc.cli.helpers import make_run
from tests.datavc.pipelines.helpers import last_job, sh


def test_stopping_a_running_job_kills_its_datums_and_commits_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    with Client.init(tmp_path / "store") as c:
        c.create_repo("in")
        with c.commit("in", "main") as tx:
            for name in ("a", "b", "c"):
                tx.put_file(f"/{name}", name.encode())
        script = f'echo "$DATAVC_DATUM_ID" >> {marker}; sleep 60; touch "$DATAVC_OUT/x"'
        c.create_pipeline(
            {
                "pipeline": {"name": "slow"},
                "input": {"pfs": {"repo": "in", "glob": "/*"}},
                "transform": {"cmd": sh(script)},
            }
        )
        job = last_job(c, "slow")
        outcome: list[bool] = []
        runner = threading.Thread(target=lambda: outcome.append(c.run().ok))
        started = time.monotonic()
        runner.start()
        while not marker.exists():
            assert time.monotonic() - started < 30, "the datum never started"
            time.sleep(0.05)
        stopped = c.stop_job(job.id)
        assert stopped.state == "killed"
        runner.join(timeout=30)
        assert not runner.is_alive() and outcome == [False]
        assert time.monotonic() - started < 30  # the sleeping datum was killed, not waited for
        assert len(marker.read_text().split()) == 1  # no other datum started
        assert c.inspect_job(job.id).state == "killed"
        assert c.list_branches("slow")[0].head is None


def test_job_logs_of_a_pipelines_latest_job_follow(tmp_path: Path) -> None:
    run = make_run(CliRunner())
    home = tmp_path / "store"
    with Client.init(home) as c:
        c.create_repo("in")
        with c.commit("in", "main") as tx:
            tx.put_file("/a", b"a")
        c.create_pipeline(
            {
                "pipeline": {"name": "p"},
                "input": {"pfs": {"repo": "in", "glob": "/*"}},
                "transform": {"cmd": sh("echo hi")},
            }
        )
        c.run()
        job = last_job(c, "p")
    out = run("--home", home, "job", "logs", "--pipeline", "p", "--follow").stdout
    datum = next(iter(Client.open(home).list_datums(job.id))).id
    assert out == f"==> datum {datum} <==\n[try 1/3]\nhi\n"
    err = run("--home", home, "job", "logs", "--pipeline", "nope", code=3).stderr
    assert err == "error: pipeline 'nope' not found\n"
    err = run("--home", home, "job", "logs", code=2).stderr
    assert err == "error: give a job ID or --pipeline NAME (one of them)\n"
