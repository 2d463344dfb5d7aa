"""The local executor: each datum runs as a subprocess in its own scratch directory.

The transform sees its inputs under ``$DATAVC_IN/<input name>/<path as in the repo>``
(copies: user code can never write through to stored objects) and writes outputs to
the empty ``$DATAVC_OUT``; ``DATAVC_JOB_ID`` and ``DATAVC_DATUM_ID`` are set too. Up to
``parallelism`` datums run at once. Only regular files inside ``$DATAVC_OUT`` are
ingested: anything written elsewhere, and symbolic links (which could point out of it),
are not.

Isolation (see docs/security.md, "Transforms"): the environment is an allow-list
(``transform_env``), never the scheduler's own (which holds database and cloud
credentials); scratch directories live in a per-job temporary root (mode 0700, under
``$TMPDIR``), never inside the store directory; and on Linux every datum runs under a
subreaper shim (``datavc.pipelines.reaper``), so nothing it started outlives it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from datavc.context import Context
from datavc.pipelines import orphans, reaper
from datavc.pipelines import sandbox as _sandbox
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import OnStart, Outcome
from datavc.pipelines.executors.boxed import BoxPool, run_boxed
from datavc.pipelines.executors.oneshot import run as _run
from datavc.pipelines.executors.oneshot import run_err_cmd as _run_err_cmd
from datavc.pipelines.executors.oneshot import tail as _tail
from datavc.pipelines.executors.outputs import OutputSink, OutputStore, Trash
from datavc.pipelines.executors.pipelined import PFS_HINT, Pipelined, timeout_note
from datavc.pipelines.executors.staging import pach_env, stage, transform_env
from datavc.pipelines.sandbox import SandboxConfig
from datavc.pipelines.secrets import SecretUnavailable, local_secret_env, pod_secret_env
from datavc.pipelines.shim import ShimPool
from datavc.pipelines.spec import PipelineSpec

SHM = Path("/dev/shm")
# A tmpfs smaller than this is not used for scratch: a container's /dev/shm is often 64 MiB,
# and a datum's staged inputs would not fit.
SHM_MIN_FREE = 1 << 30


def scratch_dir(ctx: Context) -> Path:
    """Where jobs of this store make their temporary roots: outside the store, so a transform
    cannot reach the store's files via ``..``.

    ``$TMPDIR`` when it is set; else ``/dev/shm`` when it is a writable tmpfs (Linux) with at
    least ``SHM_MIN_FREE`` free; else the system temporary directory. Why tmpfs: a datum's
    scratch is created, written and removed within milliseconds and never needs to survive a
    crash, while on a disk file system
    (ext4 ``/tmp``) each creation and removal waits behind the journal commits that the
    output writer's fsyncs cause: 0.6 ms per file created here against 0.05 ms on tmpfs.
    The store's ``executor.scratch`` setting overrides both (inputs larger than memory).
    """
    if (
        not os.environ.get("TMPDIR")
        and _is_tmpfs(SHM)
        and os.access(SHM, os.W_OK | os.X_OK)
        and _free_bytes(SHM) >= SHM_MIN_FREE
    ):
        return SHM
    return Path(tempfile.gettempdir())


def _free_bytes(path: Path) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def _is_tmpfs(path: Path) -> bool:
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            return any(
                len(parts) > 2 and parts[1] == str(path) and parts[2] == "tmpfs"
                for parts in (line.split() for line in f)
            )
    except OSError:
        return False


def _empty_output(ctx: Context | None, outputs: OutputSink | None, work: Path) -> str:
    """The tree id of an empty output (a datum err_cmd recovered): the store's, or the sink's."""
    if ctx is not None:
        return ctx.empty_tree
    assert outputs is not None, "without the store, outputs go to a sink"
    empty = work / ".datavc-empty-output"
    empty.mkdir(exist_ok=True)
    return outputs.put_dir(empty)


def run_datum(
    ctx: Context | None,
    spec: PipelineSpec,
    job_id: str,
    datum: Datum,
    scratch: Path,
    *,
    pfs_root: Path | None = None,
    record: bool = True,
    deadline: float | None = None,
    outputs: OutputSink | None = None,
    sandbox: SandboxConfig | None = None,
    stager: Callable[[Datum, Path], None] | None = None,
) -> Outcome:
    """Run one datum, retried up to ``datum_tries`` times; store its outputs on success.

    With ``pfs_root`` (a worker pod's ``/pfs``) inputs go to ``pfs_root/<input>`` and
    outputs come from ``pfs_root/out``, emptied before each try, as in Pachyderm.
    With ``record``, the running shim and scratch directory are noted in the datum's row
    (``datavc.pipelines.orphans``) so a scheduler reclaiming the job can clean up.
    ``deadline`` (a ``time.monotonic()`` value: the job's ``job_timeout``) bounds every try.
    The transform runs under a one-shot shim, recorded here if ``record``. With ``outputs``
    the outputs go to that writer (a worker pod's upload, or the job's shared writer).
    With ``stager`` the datum's inputs are staged by it (a worker pod reads them from the
    server); then ``ctx`` may be None, as long as ``outputs`` is given and ``record`` is off.
    The command runs in ``transform.working_dir`` when set (a missing directory fails the
    datum with a message saying so), else in the scratch directory; an exit code listed in
    ``transform.accept_return_code`` counts as success. (The scheduler's own executor runs
    datums through a serving shim instead: ``executors.pipelined`` and ``executors.boxed``.)
    """
    started = time.monotonic()
    exit_code: int | None = None
    logs = ""
    tries = 0
    try:
        secret_env = (pod_secret_env if pfs_root is not None else local_secret_env)(spec.transform.secrets)
    except SecretUnavailable as err:
        return Outcome(False, 1, 127, f"[datavc] {err}\n", time.monotonic() - started, None)
    for tries in range(1, spec.datum_tries + 1):
        if record and tries > 1:
            # A stopped job tries no datum again (the first try's caller checked, in on_start).
            assert ctx is not None, "recording a datum needs the store"
            orphans.ensure_running(ctx, job_id)
        work = Path(tempfile.mkdtemp(prefix=f"{orphans.DATUM_PREFIX}{datum.hash[:12]}-", dir=scratch))
        try:
            if pfs_root is not None:
                in_dir, out_dir = pfs_root, pfs_root / "out"
                if pfs_root.exists():
                    for child in pfs_root.iterdir():
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child)
                        else:
                            child.unlink()
                pfs_root.mkdir(parents=True, exist_ok=True)
            else:
                in_dir = work / ("pfs" if sandbox is not None else "in")
                out_dir = in_dir / "out" if sandbox is not None else work / "out"
                in_dir.mkdir()
            out_dir.mkdir()
            if stager is not None:
                stager(datum, in_dir)
            else:
                assert ctx is not None, "run_datum needs a store context or a stager"
                stage(ctx, datum, in_dir)
            env = transform_env(
                {**spec.transform.env, **secret_env},
                {
                    "DATAVC_IN": str(in_dir),
                    "DATAVC_OUT": str(out_dir),
                    "DATAVC_JOB_ID": job_id,
                    "DATAVC_DATUM_ID": datum.hash,
                    **pach_env(spec, job_id, datum),
                },
            )
            log_path = work / "log"
            stdin = "".join(line + "\n" for line in spec.transform.stdin or [])
            timeout = spec.datum_timeout
            left = None if deadline is None else deadline - time.monotonic()
            cwd = Path(spec.transform.working_dir) if spec.transform.working_dir else work
            refusal = ""
            if left is not None and left <= 0:
                refusal = f"[datavc] not run: the job timeout of {spec.job_timeout}s passed\n"
            elif sandbox is None and not cwd.is_dir():
                refusal = (
                    f"[datavc] transform.working_dir {str(cwd)!r} does not exist or is not a directory "
                    "where this datum runs\n"
                )
            if refusal:
                # Trying again cannot help: the datum fails now, saying why.
                exit_code = -9 if left is not None and left <= 0 else 127
                logs = f"[try {tries}/{spec.datum_tries}]\n" + refusal
                break
            if left is not None and left < timeout:
                timeout = left
            cmd = list(spec.transform.cmd)
            err_cmd = list(spec.transform.err_cmd)
            if sandbox is not None:
                cf = sandbox.confine(in_dir, [f.dir for f in datum.files], spec.transform.working_dir)
                cmd, env, cwd = _sandbox.argv(cmd, cf, sandbox.exe), _sandbox.inner_env(env), work
                if err_cmd:
                    err_cmd = _sandbox.argv(err_cmd, cf, sandbox.exe)
            exit_code = _run_once(
                ctx, spec, job_id, datum, cmd, cwd, env, stdin, log_path, timeout, record, work
            )
            logs = f"[try {tries}/{spec.datum_tries}]\n" + _tail(log_path)
            if spec.transform.succeeded(exit_code):
                if outputs is not None:
                    tree = outputs.put_dir(out_dir)
                else:
                    assert ctx is not None, "run_datum needs a store context or an output sink"
                    with ctx.store.writer() as w:
                        tree = w.put_dir(out_dir, follow_symlinks=False)
                return Outcome(True, tries, exit_code, logs, time.monotonic() - started, tree)
            if sandbox is None and pfs_root is None and "/pfs" in logs:
                logs += PFS_HINT  # Pachyderm code with /pfs paths baked into its program
            if tries == spec.datum_tries and spec.transform.err_cmd and (left is None or left > 0):
                recovered, err_logs = _run_err_cmd(spec, err_cmd, cwd, env, work, timeout)
                logs += err_logs
                if recovered:
                    return Outcome(
                        True,
                        tries,
                        exit_code,
                        logs,
                        time.monotonic() - started,
                        _empty_output(ctx, outputs, work),
                        recovered=True,
                    )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return Outcome(False, tries, exit_code, logs, time.monotonic() - started, None)


def _run_once(
    ctx: Context | None,
    spec: PipelineSpec,
    job_id: str,
    datum: Datum,
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    stdin: str,
    log_path: Path,
    timeout: float,
    record: bool,
    work: Path,
) -> int:
    """Run the transform under a one-shot shim (worker pods, and callers without a shim)."""
    exit_code: int
    with open(log_path, "wb") as log:
        try:
            exit_code = _run(
                cmd,
                cwd,
                env,
                stdin.encode(),
                log,
                timeout,
                on_spawn=(
                    functools.partial(orphans.record, ctx, job_id, datum.hash, scratch_dir=work)
                    if record and ctx is not None
                    else None
                ),
            )
        except subprocess.TimeoutExpired:
            exit_code = -9
            log.write(timeout_note(spec, timeout))
        except OSError as err:
            exit_code = 127
            log.write(f"[datavc] cannot run {spec.transform.cmd[0]!r}: {err.strerror}\n".encode())
    return exit_code


class LocalExecutor:
    """Runs a job's datums as local subprocesses, ``parallelism`` at a time.

    ``scratch`` is where each job's temporary root (``datavc-run-*``, mode 0700) is made;
    by default the system temporary directory (``$TMPDIR``), never the store directory: a
    transform must not reach the store's configuration or metadata through ``..``.
    """

    name = "local"

    def __init__(
        self, scratch: str | os.PathLike[str] | None = None, settings: dict[str, Any] | None = None
    ) -> None:
        self.scratch = Path(scratch) if scratch else Path(tempfile.gettempdir())
        self.settings = dict(settings or {})

    def sandbox(self, ctx: Context, spec: PipelineSpec) -> SandboxConfig | None:
        """The sandbox this job's datums run in (``datavc.pipelines.sandbox.for_job``)."""
        objects = getattr(ctx.store.backend, "root", None)  # a local object store outside .datavc
        hide = [Path(p).resolve() for p in (ctx.home, objects, os.environ.get("HOME")) if p]
        network = None if spec.sandbox is None else spec.sandbox.network
        t = spec.transform
        pfs = _sandbox.uses_pfs((*t.cmd, *t.stdin, *t.err_cmd, *t.err_stdin))
        return _sandbox.for_job(network, t.user, self.settings, hide, pfs_paths=pfs)

    def run(
        self,
        ctx: Context,
        spec: PipelineSpec,
        job_id: str,
        datums: list[Datum],
        on_start: OnStart,
        on_done: Callable[[Datum, Outcome], None],
    ) -> None:
        """Run ``datums``; report each one's start and end (callbacks run in worker threads)."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=orphans.RUN_PREFIX, dir=self.scratch))  # mode 0700
        deadline = None if spec.job_timeout is None else time.monotonic() + spec.job_timeout
        box = self.sandbox(ctx, spec)
        if spec.transform.datum_batching:
            from datavc.pipelines.executors.batched import run_batched

            try:
                run_batched(
                    ctx, spec, job_id, datums, root, on_start, on_done, deadline=deadline, sandbox=box
                )
            finally:
                shutil.rmtree(root, ignore_errors=True)
            return
        shims = ShimPool() if reaper.SUPPORTED else None
        outputs = OutputStore(ctx, on_done)
        trash = Trash(root)
        # Sandboxed: one bwrap per thread, a shim inside it serving the thread's datums.
        boxes = BoxPool(root, spec, box) if box is not None and shims is not None else None
        # Per thread: storing and reporting its last successful datum, done while its next
        # datum runs (what is left when the pool ends is done at the end).
        unstored: dict[int, Callable[[], None]] = {}
        lock = threading.Lock()

        def take_unstored() -> Callable[[], None] | None:
            with lock:
                return unstored.pop(threading.get_ident(), None)

        def store_later(d: Datum, o: Outcome, out_dir: Path, scratch: Path) -> Callable[[], None]:
            def store() -> None:
                try:
                    tree = outputs.put_dir(out_dir)
                finally:
                    trash.discard(scratch)
                outputs.report(d, dataclasses.replace(o, output_tree=tree))

            return store

        def one(d: Datum) -> None:
            if boxes is not None:
                b = boxes.get()
                held: list[Path] = []
                try:
                    on_start(d, b.shim.note(b.home))
                    o = run_boxed(
                        ctx, spec, job_id, d, b, outputs, deadline, overlap=take_unstored(), later=held
                    )
                except OSError:
                    orphans.ensure_running(ctx, job_id, fresh=True)  # 'datavc job stop' killed the sandbox?
                    raise
                if held:
                    with lock:
                        unstored[threading.get_ident()] = store_later(d, o, held[0], held[0])
                else:
                    outputs.report(d, o)
                return
            on_start(d)
            on_done(d, run_datum(ctx, spec, job_id, d, root, deadline=deadline, sandbox=box))

        threads = max(1, min(spec.parallelism, len(datums)))
        try:
            if box is None and shims is not None:
                # Unsandboxed: a serving shim per thread, the next datum waiting in it.
                Pipelined(ctx, spec, job_id, root, on_start, outputs, trash, deadline).run(
                    datums, shims, threads
                )
            else:
                with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="datum") as pool:
                    for fut in [pool.submit(one, d) for d in datums]:
                        fut.result()
        finally:
            if boxes is not None:
                boxes.close()
            if shims is not None:
                shims.close()
            try:
                try:
                    for store in list(unstored.values()):
                        store()
                finally:
                    outputs.close()
            finally:
                trash.close()
                shutil.rmtree(root, ignore_errors=True)
