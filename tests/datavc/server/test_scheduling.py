"""``datavc serve`` runs pipeline jobs (``datavc/server/scheduling.py``), each job once even when
a daemon runs beside it on the same store; ``--no-scheduler`` leaves them to a daemon."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from datavc.client import Client
from datavc.pipelines.scheduler import serve_jobs
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import runlog_lines, sh
from tests.datavc.server.test_serve import ServeProcess

UPPER = (
    'echo "$DATAVC_JOB_ID $DATAVC_DATUM_ID" >> "$RUNLOG"; '
    'cd "$DATAVC_IN/texts" && for f in *; do tr a-z A-Z < "$f" > "$DATAVC_OUT/$f"; done'
)
FILES = 4


def _wait_jobs(c: Client, pipelines: list[str], n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = [j.state for p in pipelines for j in c.list_jobs(p)]
        if len(states) == n and all(s in ("success", "failure", "killed") for s in states):
            return
        assert time.monotonic() < deadline, f"jobs not finished within {timeout} s: {states}"
        time.sleep(0.1)


def _store(home: Path, runlog: Path, pipelines: list[str]) -> Client:
    c = Client.init(home)
    c.create_repo("texts")
    for name in pipelines:
        c.create_pipeline(
            name=name,
            input={"pfs": {"repo": "texts", "glob": "/*"}},
            transform={"cmd": sh(UPPER), "env": {"RUNLOG": str(runlog)}},
        )
    c.put_file("texts", "main", "/f0", b"v0\n")
    return c


def test_serve_and_a_daemon_run_every_job_once_and_no_scheduler_runs_none(tmp_path: Path) -> None:
    runlog = tmp_path / "runs.log"
    pipelines = ["up0", "up1"]
    c = _store(tmp_path / "store", runlog, pipelines)
    # A second store, served at the same time with --no-scheduler: its job must stay queued.
    idle = _store(tmp_path / "idle", tmp_path / "idle.log", ["up0"])
    stop = threading.Event()
    daemon = Client.open(tmp_path / "store")  # a second scheduler on the same store, as a daemon
    beside = threading.Thread(target=serve_jobs, args=(daemon.context, stop), kwargs={"poll": 0.2})
    try:
        server = ServeProcess(tmp_path / "store", "--no-s3")
        off = ServeProcess(tmp_path / "idle", "--no-s3", "--no-scheduler")
        try:
            for s in (server, off):
                s.wait_serving(f"http://127.0.0.1:{s.port}")
            assert "running pipeline jobs here" in server.output()
            assert "running pipeline jobs here" not in off.output()
            # The jobs queued before it started: the server alone runs them.
            _wait_jobs(c, pipelines, len(pipelines))
            assert {(j.worker or "").split(":")[1] for p in pipelines for j in c.list_jobs(p)} == {
                str(server.proc.pid)
            }
            beside.start()
            for i in range(1, FILES):
                c.put_file("texts", "main", f"/f{i}", f"v{i}\n".encode())
            _wait_jobs(c, pipelines, len(pipelines) * FILES)
        finally:
            stop.set()
            codes = [s.stop() for s in (server, off)]
        assert codes == [0, 0], [s.output() for s in (server, off)]

        jobs = [j for p in pipelines for j in c.list_jobs(p)]
        assert all(j.state == "success" for j in jobs), [j.message for j in jobs]
        # Each job ran its one new datum, once, whichever scheduler claimed it.
        runs = Counter(line.split()[0] for line in runlog_lines(runlog))
        assert runs == {j.id: 1 for j in jobs}
        for p in pipelines:
            assert files_of(c, p) == {f"/f{i}": f"V{i}\n".encode() for i in range(FILES)}
        # Meanwhile the server without a scheduler ran nothing (it was up for seconds).
        assert [j.state for j in idle.list_jobs("up0")] == ["created"]
        assert runlog_lines(tmp_path / "idle.log") == []
    finally:
        stop.set()
        if beside.is_alive():
            beside.join(timeout=30)
        daemon.close()
        c.close()
        idle.close()
