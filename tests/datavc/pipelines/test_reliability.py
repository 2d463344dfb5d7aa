"""Pipeline schedulers under failure and concurrency, as separate processes.

- A scheduler SIGKILLed in the middle of a job: a new scheduler reclaims the job once its
  lease has run out and resumes it; datums finished before the kill are not run again and
  the output equals an uninterrupted run's.
- Two schedulers against one PostgreSQL database: every job runs exactly once, and every
  pipeline's output history is linear with one commit per job.

Every transform appends one line per run to ``$RUNLOG``, a file outside the store; the
variable comes from the pipeline spec's ``env`` (a transform inherits only an allow-list
of the scheduler's environment).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from datavc.client import Client
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import jobs, runlog_lines, sh

REPO_ROOT = Path(__file__).resolve().parents[3]

# `python -c SCHEDULER <home>`: run jobs until none is left, print the report as JSON.
SCHEDULER = """
import json, sys
from datavc.client import Client
with Client.open(sys.argv[1]) as c:
    report = c.run()
print(json.dumps({"succeeded": report.succeeded, "failed": report.failed}))
"""


class Scheduler:
    """A scheduler subprocess in its own process group (so SIGKILL takes its transforms too)."""

    def __init__(self, home: Path, runlog: Path, log_dir: Path, **env: str) -> None:
        self.home = home
        self.out_path = log_dir / f"scheduler-{time.monotonic_ns()}.out"
        self._out = self.out_path.open("wb")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("DATAVC_")}
        full_env.update(PYTHONPATH=str(REPO_ROOT), RUNLOG=str(runlog), **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SCHEDULER, str(home)],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(REPO_ROOT),
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the scheduler and the transform it is running, as a crash would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def kill_after_successes(self, client: Client, job_id: str, n: int, timeout: float) -> None:
        """SIGKILL the scheduler (:meth:`kill`) once ``n`` of the job's datums are recorded successful."""
        deadline = time.monotonic() + timeout
        while sum(d.state == "success" for d in client.list_datums(job_id)) < n:
            assert self.proc.poll() is None, f"the scheduler ended early:\n{self.output()}"
            assert time.monotonic() < deadline, f"{n} datums were not recorded within {timeout:g} s"
            time.sleep(0.05)
        self.kill()

    def report(self, timeout: float = 60) -> dict[str, list[str]]:
        """Wait for the scheduler to exit on its own; its run report."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"scheduler did not finish in {timeout}s:\n{self.output()}") from None
        assert self.proc.returncode == 0, f"scheduler exited {self.proc.returncode}:\n{self.output()}"
        report: dict[str, list[str]] = json.loads(self.output().strip().splitlines()[-1])
        return report

    def output(self) -> str:
        self._out.flush()
        return self.out_path.read_text(errors="replace")

    def close(self) -> None:
        self.kill()
        self._out.close()


def start(started: list[Scheduler], home: Path, runlog: Path, **env: str) -> Scheduler:
    s = Scheduler(home, runlog, home.parent, **env)
    started.append(s)
    return s


# ----- a scheduler killed mid-job --------------------------------------------------------------

# One file per datum: log the run, take a while, write the file upper-cased.
SLOW_UPPER = (
    'f=$(ls "$DATAVC_IN/A"); echo "$f" >> "$RUNLOG"; sleep 0.5; '
    'tr a-z A-Z < "$DATAVC_IN/A/$f" > "$DATAVC_OUT/$f"'
)
SLOW_SPEC: dict[str, Any] = {
    "name": "P",
    "input": {"pfs": {"repo": "A", "glob": "/*"}},
    "transform": {"cmd": sh(SLOW_UPPER)},
    "parallelism": 1,
}
INPUT_FILES = {f"/f{i}": f"content of file {i}\n".encode() for i in range(6)}


def _store_with_pipeline(home: Path, runlog: Path) -> Client:
    c = Client.init(home)
    c.create_repo("A")
    with c.commit("A", "main") as tx:
        for path, data in INPUT_FILES.items():
            tx.put_file(path, data)
    c.create_pipeline(
        **{**SLOW_SPEC, "transform": {**SLOW_SPEC["transform"], "env": {"RUNLOG": str(runlog)}}}
    )
    return c


def test_killed_scheduler_resumes_the_job_without_rerunning_finished_datums(
    tmp_path: Path, schedulers: list[Scheduler]
) -> None:
    # The reference: the same pipeline on the same data in another store, never interrupted
    # (run at the same time, so its sleeps overlap the test's).
    ref_log = tmp_path / "ref.log"
    ref = _store_with_pipeline(tmp_path / "ref", ref_log)
    ref.close()
    ref_sched = start(schedulers, tmp_path / "ref", ref_log)

    runlog = tmp_path / "runs.log"
    home = tmp_path / "store"
    client = _store_with_pipeline(home, runlog)
    try:
        (job,) = client.list_jobs("P")
        start(schedulers, home, runlog).kill_after_successes(client, job.id, 2, timeout=30)

        datums = list(client.list_datums(job.id))
        file_of = {d.id: d.inputs[0][1].lstrip("/") for d in datums}
        finished = {file_of[d.id] for d in datums if d.state == "success"}
        assert 2 <= len(finished) < len(INPUT_FILES), "the kill must land in the middle of the job"
        assert client.inspect_job(job.id).state == "running"  # as the dead scheduler left it

        # A new scheduler with a 1 s lease (read when datavc.pipelines.scheduler is imported)
        # puts the abandoned job back and resumes it.
        second = start(schedulers, home, runlog, DATAVC_JOB_LEASE="1")
        report = second.report(timeout=60)
        assert report == {"succeeded": [job.id], "failed": []}

        done = client.inspect_job(job.id)
        assert done.state == "success", done.message
        assert [j.id for j in client.list_jobs("P")] == [job.id]  # completed once, no new job
        assert (done.datums_total, done.datums_processed, done.datums_failed) == (6, 6, 0)
        assert all(d.state == "success" for d in client.list_datums(job.id))

        # Exactly one output commit for the job; no open commit left behind by the killed run.
        outputs = list(client.log("P", "main"))
        assert [(o.job, o.id) for o in outputs] == [(job.id, done.output_commit)]
        assert client.list_open_commits("P") == []

        # Datums finished before the kill did not run again; every other datum ran, and only
        # the one running at the kill may have run twice.
        runs = Counter(runlog_lines(runlog))
        assert set(runs) == {p.lstrip("/") for p in INPUT_FILES}
        for f in finished:
            assert runs[f] == 1, (f, runs)
        assert sum(runs.values()) <= len(INPUT_FILES) + 1, runs

        # The output equals the uninterrupted run's.
        assert ref_sched.report(timeout=60)["failed"] == []
        with Client.open(tmp_path / "ref") as ref:
            assert Counter(runlog_lines(ref_log)) == Counter(p.lstrip("/") for p in INPUT_FILES)
            assert (
                files_of(client, "P")
                == files_of(ref, "P")
                == {p: data.upper() for p, data in INPUT_FILES.items()}
            )
            assert client.inspect_commit("P", "main").tree == ref.inspect_commit("P", "main").tree
        assert client.fsck().ok
    finally:
        client.close()


# ----- two schedulers, one PostgreSQL ----------------------------------------------------------


def _logging_copy(pipe: str) -> str:
    return (
        f'echo "{pipe} $DATAVC_JOB_ID $DATAVC_DATUM_ID" >> "$RUNLOG"; sleep 0.3; '
        'cd "$DATAVC_IN/A" && for f in *; do cp "$f" "$DATAVC_OUT/$f"; done'
    )


def test_two_schedulers_run_every_job_exactly_once(
    tmp_path: Path, pg_url: str, schedulers: list[Scheduler]
) -> None:
    home = tmp_path / "store"
    runlog = tmp_path / "runs.log"
    client = Client.init(home, db=pg_url)
    try:
        client.create_repo("A")
        globs = {"p0": "/*", "p1": "/*", "p2": "/"}
        for name, glob in globs.items():
            client.create_pipeline(
                name=name,
                input={"pfs": {"repo": "A", "glob": glob}},
                transform={"cmd": sh(_logging_copy(name)), "env": {"RUNLOG": str(runlog)}},
            )
        inputs = [client.put_file("A", "main", f"/f{i}", f"v{i}\n".encode()).id for i in range(5)]
        all_jobs = {name: jobs(client, name) for name in globs}
        assert all(len(js) == 5 for js in all_jobs.values())
        job_ids = {j.id for js in all_jobs.values() for j in js}

        a = start(schedulers, home, runlog)
        b = start(schedulers, home, runlog)
        ra, rb = a.report(timeout=90), b.report(timeout=90)
        assert ra["failed"] == [] and rb["failed"] == []
        assert not set(ra["succeeded"]) & set(rb["succeeded"])
        assert set(ra["succeeded"]) | set(rb["succeeded"]) == job_ids

        # Each job ran exactly one datum (the new file, or the whole commit for p2), once.
        lines = [line.split() for line in runlog_lines(runlog)]
        assert Counter(job for _, job, _ in lines) == dict.fromkeys(job_ids, 1)
        assert len({(pipe, datum) for pipe, _, datum in lines}) == len(lines) == 15

        workers = set()
        for name in globs:
            done = jobs(client, name)
            assert [j.id for j in done] == [j.id for j in all_jobs[name]]
            assert all(j.state == "success" for j in done), [j.message for j in done]
            assert all(j.datums_processed == 1 for j in done)
            workers |= {j.worker for j in done}
            # A linear history: one output commit per job, in trigger order, each
            # derived from the input commit that triggered its job.
            history = list(reversed(list(client.log(name, "main"))))
            assert [c.job for c in history] == [j.id for j in done]
            assert [c.id for c in history] == [j.output_commit for j in done]
            assert [c.parent for c in history] == [None] + [c.id for c in history[:-1]]
            assert [c.provenance for c in history] == [(f"A@{i}",) for i in inputs]
            assert client.list_open_commits(name) == []
            assert files_of(client, name) == {f"/f{i}": f"v{i}\n".encode() for i in range(5)}
        assert len(workers) == 2, f"both schedulers should have run jobs: {workers}"
    finally:
        client.close()
