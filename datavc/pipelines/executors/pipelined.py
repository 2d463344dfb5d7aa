"""Unsandboxed local datums through a serving shim, with the next datum already waiting in it.

Why: with one request per datum and its answer awaited before the next was sent, every
datum paid a round trip between the shim and the scheduler (answer written, scheduler
woken, next datum staged, request written, shim woken): about 3 ms on a loaded 2-core
machine, as much as a trivial datum's own process. Here each executor thread keeps up to
``DEPTH`` datums in its shim: while the shim runs one, the next is staged and queued in
its pipe, so the shim starts it the moment the previous one (and everything that one
started) is gone, and the thread meanwhile reads the previous result, stores its outputs
and stages the datum after. Nothing else changes for a datum:

- its own scratch directory (``$DATAVC_IN`` copies, an empty ``$DATAVC_OUT``), the
  allow-listed environment, its log, ``transform.working_dir`` and ``stdin``;
- ``datum_tries`` (a failed try is queued again, behind the datum already waiting),
  ``err_cmd`` after the last one, ``accept_return_code``, ``datum_timeout``, and the job's
  timeout as an absolute deadline the shim checks when it starts the datum;
- the shim is the subreaper of each datum in turn, recorded (with the datum's scratch
  directory) before the datum is queued, so 'datavc job stop' and a scheduler reclaiming
  the job find it; if anything fails here, the shim is killed with what it has queued.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from datavc.context import Context
from datavc.pipelines import orphans
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import OnStart, Outcome
from datavc.pipelines.executors.oneshot import run_err_cmd, tail
from datavc.pipelines.executors.outputs import OutputStore, Trash
from datavc.pipelines.executors.staging import pach_env, passed_env, stage, transform_env
from datavc.pipelines.secrets import SecretUnavailable, local_secret_env
from datavc.pipelines.shim import Shim, ShimPool, ShimRequest, ShimResult
from datavc.pipelines.spec import PipelineSpec

# Datums per shim: the one running and two waiting behind it. With one waiting, a thread
# slowed down by a loaded machine (or by the GIL) often had not queued the next datum when
# the shim finished the one before: 300 datums took 4.1-5.3 s against 3.5-4.1 s with two
# or three waiting (load 12, 2 cores).
DEPTH = 3

PFS_HINT = (
    "[datavc] the transform failed on a /pfs path: /pfs/<input> and /pfs/out exist only in the "
    "sandbox; add 'sandbox: {}' to the spec (or set executor.sandbox to 'always' in the store's "
    "config.json), or read $DATAVC_IN/<input> and write $DATAVC_OUT\n"
)


def timeout_note(spec: PipelineSpec, timeout: float, *, job: bool = False) -> bytes:
    """The log line of a datum killed at its timeout (``job``: the job's ran out first)."""
    which = "job" if job or timeout != spec.datum_timeout else "datum"
    limit = spec.job_timeout if which == "job" else spec.datum_timeout
    return f"\n[datavc] killed after the {which} timeout of {limit}s\n".encode()


@dataclass(slots=True)
class _Try:
    """One try of a datum, queued in the thread's shim."""

    datum: Datum
    tries: int
    started: float  # monotonic, when the datum's first try was prepared
    work: Path
    out_dir: Path
    log: Path
    env: dict[str, str]
    cwd: Path
    timeout: float


class Pipelined:
    """Runs a job's datums on ``parallelism`` threads, each with its shim (see the module doc)."""

    def __init__(
        self,
        ctx: Context,
        spec: PipelineSpec,
        job_id: str,
        root: Path,
        on_start: OnStart,
        outputs: OutputStore,
        trash: Trash,
        deadline: float | None,
    ) -> None:
        self._ctx, self._spec, self._job, self._root = ctx, spec, job_id, root
        self._on_start, self._outputs, self._trash, self._deadline = on_start, outputs, trash, deadline
        self._serial = itertools.count()
        self._passed = passed_env()  # read once per job, not once per datum
        self._stdin = "".join(line + "\n" for line in spec.transform.stdin or [])
        self._lock = threading.Lock()
        self._failed = threading.Event()
        self._todo: Iterator[Datum] = iter(())

    def run(self, datums: list[Datum], shims: ShimPool, threads: int) -> None:
        """Run every datum; raise what a thread raised (the others stop taking datums)."""
        from concurrent.futures import ThreadPoolExecutor

        if not datums:
            return  # no shim started for nothing
        self._todo = iter(datums)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="datum") as pool:
            futures = [pool.submit(self._worker, shims) for _ in range(threads)]
            for fut in futures:
                fut.result()

    def _take(self) -> Datum | None:
        if self._failed.is_set():
            return None
        with self._lock:
            return next(self._todo, None)

    def _worker(self, shims: ShimPool) -> None:
        shim = shims.get()
        queued: deque[_Try] = deque()
        try:
            while True:
                while len(queued) < DEPTH and (d := self._take()) is not None:
                    self._prepare(shim, d, 1, time.monotonic(), queued)
                if not queued:
                    return
                t = queued.popleft()
                try:
                    got = shim.result()
                except OSError:
                    # 'datavc job stop' kills the shim running the datum: say so, not "shim died".
                    orphans.ensure_running(self._ctx, self._job, fresh=True)
                    raise
                self._finish(shim, t, got, queued)
        except BaseException:
            self._failed.set()
            if queued:
                shim.kill()  # what is queued in it must not run now
            raise

    def _prepare(self, shim: Shim, d: Datum, tries: int, started: float, queued: deque[_Try]) -> None:
        """Stage try ``tries`` of ``d`` and queue it in ``shim`` (or report why it cannot run)."""
        spec = self._spec
        # Every try of the datum works in this directory (inside the 0700 job root, so a
        # predictable name is safe): the orphans note names it before it exists.
        work = self._root / f"{orphans.DATUM_PREFIX}{d.hash[:12]}-{next(self._serial)}"
        if tries == 1:
            self._on_start(d, shim.note(work))  # raises JobStopped once the job was stopped
        else:
            orphans.ensure_running(self._ctx, self._job)  # a stopped job tries no datum again
        try:
            secret_env = local_secret_env(spec.transform.secrets)
        except SecretUnavailable as err:
            self._report(d, Outcome(False, tries, 127, f"[datavc] {err}\n", time.monotonic() - started, None))
            return
        work.mkdir(mode=0o700)
        in_dir, out_dir = work / "in", work / "out"
        in_dir.mkdir()
        out_dir.mkdir()
        stage(self._ctx, d, in_dir)
        env = transform_env(
            {**spec.transform.env, **secret_env},
            {
                "DATAVC_IN": str(in_dir),
                "DATAVC_OUT": str(out_dir),
                "DATAVC_JOB_ID": self._job,
                "DATAVC_DATUM_ID": d.hash,
                **pach_env(spec, self._job, d),
            },
            passed=self._passed,
        )
        cwd = Path(spec.transform.working_dir) if spec.transform.working_dir else work
        left = None if self._deadline is None else self._deadline - time.monotonic()
        refusal, code = "", 127
        if left is not None and left <= 0:
            refusal, code = f"[datavc] not run: the job timeout of {spec.job_timeout}s passed\n", -9
        elif not cwd.is_dir():
            refusal = (
                f"[datavc] transform.working_dir {str(cwd)!r} does not exist or is not a directory "
                "where this datum runs\n"
            )
        if refusal:
            # Trying again cannot help: the datum fails now, saying why.
            self._trash.discard(work)
            logs = f"[try {tries}/{spec.datum_tries}]\n" + refusal
            self._report(d, Outcome(False, tries, code, logs, time.monotonic() - started, None))
            return
        timeout = spec.datum_timeout if left is None else min(spec.datum_timeout, left)
        log = work / "log"
        t = _Try(d, tries, started, work, out_dir, log, env, cwd, timeout)
        shim.start(ShimRequest(list(spec.transform.cmd), cwd, env, log, timeout, self._stdin, self._deadline))
        queued.append(t)

    def _finish(self, shim: Shim, t: _Try, got: ShimResult, queued: deque[_Try]) -> None:
        """Take ``t``'s result: store and report a success, try a failure again, or end it."""
        spec = self._spec
        if got.error:
            with open(t.log, "ab") as log:
                log.write(f"[datavc] cannot run {spec.transform.cmd[0]!r}: {got.error}\n".encode())
        elif got.timed_out:
            ran_out = self._deadline is not None and time.monotonic() >= self._deadline
            with open(t.log, "ab") as log:
                log.write(timeout_note(spec, t.timeout, job=ran_out))
        logs = f"[try {t.tries}/{spec.datum_tries}]\n" + tail(t.log)
        took = time.monotonic() - t.started
        if spec.transform.succeeded(got.code):
            try:
                tree = self._outputs.put_dir(t.out_dir)
            finally:
                self._trash.discard(t.work)
            self._report(t.datum, Outcome(True, t.tries, got.code, logs, took, tree))
            return
        if "/pfs" in logs:
            logs += PFS_HINT  # Pachyderm code with /pfs paths baked into its program
        left = None if self._deadline is None else self._deadline - time.monotonic()
        if t.tries < spec.datum_tries:
            self._trash.discard(t.work)
            self._prepare(shim, t.datum, t.tries + 1, t.started, queued)
            return
        try:
            if spec.transform.err_cmd and (left is None or left > 0):
                timeout = t.timeout if left is None else min(t.timeout, left)
                err_cmd = list(spec.transform.err_cmd)
                recovered, err_logs = run_err_cmd(spec, err_cmd, t.cwd, t.env, t.work, timeout)
                logs += err_logs
                if recovered:
                    took = time.monotonic() - t.started
                    o = Outcome(True, t.tries, got.code, logs, took, self._ctx.empty_tree, recovered=True)
                    self._report(t.datum, o)
                    return
        finally:
            self._trash.discard(t.work)
        self._report(t.datum, Outcome(False, t.tries, got.code, logs, time.monotonic() - t.started, None))

    def _report(self, d: Datum, o: Outcome) -> None:
        self._outputs.report(d, o)
