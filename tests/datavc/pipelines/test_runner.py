"""Job counters add up after a resumed job: total = processed + skipped + failed.

A scheduler "crashes" after three datums of six (its executor stops and the job is left
running, as a killed process leaves it); one of the three failed. Another scheduler
reclaims and resumes the job, and the failed datum now succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from datavc.client import Client
from datavc.context import Context
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors.local import LocalExecutor, Outcome
from datavc.pipelines.runner import JobLost, run_job
from datavc.pipelines.scheduler import claim, reclaim_stale
from datavc.pipelines.spec import PipelineSpec
from tests.datavc.helpers import files_of as files
from tests.datavc.pipelines.helpers import sh


class CrashAfter(LocalExecutor):
    """Runs the first ``n`` datums for real, then stops as if the process had died."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def run(
        self,
        ctx: Context,
        spec: PipelineSpec,
        job_id: str,
        datums: list[Datum],
        on_start: Callable[[Datum], None],
        on_done: Callable[[Datum, Outcome], None],
    ) -> None:
        super().run(ctx, spec, job_id, datums[: self.n], on_start, on_done)
        raise JobLost("the scheduler died")


def test_counters_add_up_after_a_resumed_job(tmp_path: Path) -> None:
    flag = tmp_path / "fail-f2"
    flag.touch()
    # f2 fails while the flag file exists; every datum copies its file.
    script = '[ -e "$FLAG" ] && [ -e "$DATAVC_IN/A/f2" ] && exit 1; cp "$DATAVC_IN"/A/* "$DATAVC_OUT/"'
    with Client.init(tmp_path / "store") as c:
        c.create_repo("A")
        with c.commit("A", "main") as tx:
            for i in range(6):
                tx.put_file(f"/f{i}", f"{i}".encode())
        c.create_pipeline(
            name="P",
            input={"pfs": {"repo": "A", "glob": "/*"}},
            transform={"cmd": sh(script), "env": {"FLAG": str(flag)}},
            datum_tries=1,
        )
        ctx = c._ctx
        job = claim(ctx, "dead-worker")
        assert job is not None
        assert run_job(ctx, job, "dead-worker", CrashAfter(3)) == "lost"
        half = c.inspect_job(job)
        assert (half.state, half.datums_processed, half.datums_failed) == ("running", 2, 1)

        flag.unlink()
        assert reclaim_stale(ctx, timedelta(0)) == 1
        assert c.run().succeeded == [job]
        done = c.inspect_job(job)
        assert done.datums_total == done.datums_processed + done.datums_skipped + done.datums_failed
        assert (done.datums_total, done.datums_processed, done.datums_skipped, done.datums_failed) == (
            6,
            6,
            0,
            0,
        )
        assert files(c, "P") == {f"/f{i}": f"{i}".encode() for i in range(6)}

        # A later job over one more file: five datums skipped, one processed; still adds up.
        c.put_file("A", "main", "/f6", b"6")
        (nxt,) = c.run().succeeded
        j = c.inspect_job(nxt)
        assert (j.datums_total, j.datums_processed, j.datums_skipped, j.datums_failed) == (7, 1, 6, 0)
