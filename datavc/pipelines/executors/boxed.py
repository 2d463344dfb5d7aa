"""One sandbox per executor thread: a serving shim inside ``bwrap`` runs that thread's datums.

Why: starting ``bwrap`` costs 8-15 ms on this kind of machine (namespaces, a dozen bind
mounts, a new root), several times a trivial datum. So each executor thread starts one
sandbox whose first process is the serving subreaper shim (``reaper.py --serve``, PARENT
0: ``bwrap --die-with-parent`` ties it to the scheduler), and sends it one request per
datum, as the unsandboxed executor does with its shim.

The sandbox's mounts are fixed for its life, so the thread's datums take turns in fixed
host directories (``<box>/pfs/<input>`` read-only at ``/pfs/<input>``, ``<box>/pfs/out``
at ``/pfs/out``): the thread empties them (keeping them: the binds point at them) and
stages the next datum only after the previous one has ended and everything it started is
killed. Every guarantee of a sandbox per datum is kept:

- inputs read-only at ``/pfs/<input>``, output at ``/pfs/out``, the rest read-only;
- a private ``/tmp`` per datum: the shim empties it after each datum;
- the store, the home directory, the configuration and other threads' directories are
  not mounted; a datum sees only its own staged inputs (the previous datum's are gone);
- nothing outlives a datum: the shim is the subreaper of everything the transform
  starts (a double-forked daemon included) and kills it all when the datum ends, inside
  the sandbox's own PID namespace, which the kernel kills whole when the sandbox ends;
- no network with ``sandbox.network: false``; ``transform.user`` runs shim and datums.

The datum's log is the only other writable place (``/run/datavc/log``): it holds that
datum's own output and is emptied before the next.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from datavc.context import Context
from datavc.pipelines import orphans, reaper
from datavc.pipelines import sandbox as _sandbox
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome
from datavc.pipelines.executors.oneshot import tail
from datavc.pipelines.executors.outputs import OutputStore
from datavc.pipelines.executors.staging import pach_env, stage, transform_env
from datavc.pipelines.sandbox import SandboxConfig
from datavc.pipelines.secrets import SecretUnavailable, local_secret_env
from datavc.pipelines.shim import Shim, ShimRequest
from datavc.pipelines.spec import PipelineSpec

_LOG = "log"


def _empty(d: Path) -> None:
    """Remove what is in ``d``, keeping ``d`` (a bind mount points at it)."""
    for entry in os.scandir(d):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


class Box:
    """One executor thread's sandbox: its directories and the shim serving inside it."""

    def __init__(self, home: Path, spec: PipelineSpec, box: SandboxConfig) -> None:
        self.home = home
        self.pfs = home / "pfs"
        self.run_dir = home / "run"
        self.held = home / "held"  # successful datums' outputs until stored (one directory each)
        self.serial = itertools.count()
        self.mounts = _sandbox.input_dirs(p.mount for p in spec.inputs())
        for d in (self.pfs, self.run_dir, self.held, *(self.pfs / m for m in (*self.mounts, "out"))):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        cf = box.confine(self.pfs, self.mounts, spec.transform.working_dir)
        cf = _sandbox.Confinement(cf.pfs, cf.inputs, cf.network, cf.user, cf.cwd, cf.hide, self.run_dir)
        shim = [sys.executable, "-I", "-S", str(reaper.SCRIPT), "0", "--serve"]
        self.shim = Shim(_sandbox.argv(shim, cf, box.exe))

    def reset(self) -> None:
        """Empty the inputs, the output and the log: nothing of the previous datum is left."""
        for m in (*self.mounts, "out"):
            _empty(self.pfs / m)
        _empty(self.run_dir)


class BoxPool:
    """One ``Box`` per executor thread, started on first use; ``close`` ends them all."""

    def __init__(self, root: Path, spec: PipelineSpec, box: SandboxConfig) -> None:
        self._root, self._spec, self._box = root, spec, box
        self._local = threading.local()
        self._all: list[Box] = []
        self._lock = threading.Lock()
        self._n = itertools.count()

    def get(self) -> Box:
        """This thread's box (a new one if it has none, or its shim died)."""
        b: Box | None = getattr(self._local, "box", None)
        if b is None or b.shim._proc.poll() is not None:
            # A dead box's directory stays (an output in it may wait to be stored); it goes
            # with the job's root.
            home = self._root / f"{orphans.DATUM_PREFIX}box-{next(self._n)}"
            b = Box(home, self._spec, self._box)
            self._local.box = b
            with self._lock:
                self._all.append(b)
        return b

    def close(self) -> None:
        with self._lock:
            boxes, self._all = self._all, []
        for b in boxes:
            b.shim.close()


def run_boxed(
    ctx: Context,
    spec: PipelineSpec,
    job_id: str,
    datum: Datum,
    b: Box,
    outputs: OutputStore,
    deadline: float | None,
    overlap: Callable[[], None] | None = None,
    later: list[Path] | None = None,
) -> Outcome:
    """Run one datum in the thread's sandbox, retried up to ``datum_tries`` times.

    The same contract as ``local.run_datum`` (err_cmd after the last failed try, timeouts,
    ``accept_return_code``, ``overlap`` and ``later``); outputs are stored through
    ``outputs``, or with ``later`` moved to a directory appended to it, which the caller
    stores and then discards.
    """
    pending = [overlap] if overlap is not None else []
    try:
        return _run_boxed(ctx, spec, job_id, datum, b, outputs, deadline, pending, later)
    finally:
        _drain(pending)


def _drain(pending: list[Callable[[], None]]) -> None:
    while pending:
        pending.pop()()


def _run_boxed(
    ctx: Context,
    spec: PipelineSpec,
    job_id: str,
    datum: Datum,
    b: Box,
    outputs: OutputStore,
    deadline: float | None,
    pending: list[Callable[[], None]],
    later: list[Path] | None,
) -> Outcome:
    started = time.monotonic()
    code: int | None = None
    logs = ""
    tries = 0
    try:
        secret_env = local_secret_env(spec.transform.secrets)
    except SecretUnavailable as err:
        return Outcome(False, 1, 127, f"[datavc] {err}\n", time.monotonic() - started, None)
    env = _sandbox.inner_env(
        transform_env(
            {**spec.transform.env, **secret_env},
            {
                "DATAVC_IN": _sandbox.PFS,
                "DATAVC_OUT": f"{_sandbox.PFS}/out",
                "DATAVC_JOB_ID": job_id,
                "DATAVC_DATUM_ID": datum.hash,
                **pach_env(spec, job_id, datum),
            },
        )
    )
    cwd = Path(spec.transform.working_dir or _sandbox.PFS)
    log_in, log_host = Path(_sandbox.RUN) / _LOG, b.run_dir / _LOG
    for tries in range(1, spec.datum_tries + 1):
        if tries > 1:
            orphans.ensure_running(ctx, job_id)  # a stopped job tries no datum again
        b.reset()
        stage(ctx, datum, b.pfs)
        log_host.touch()
        timeout = spec.datum_timeout
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            code = -9
            logs = f"[try {tries}/{spec.datum_tries}]\n"
            logs += f"[datavc] not run: the job timeout of {spec.job_timeout}s passed\n"
            break
        if left is not None and left < timeout:
            timeout = left
        stdin = "".join(line + "\n" for line in spec.transform.stdin or [])
        code = _run(b, spec.transform.cmd, cwd, env, stdin, log_in, log_host, timeout, spec, pending)
        logs = f"[try {tries}/{spec.datum_tries}]\n" + tail(log_host)
        if spec.transform.succeeded(code):
            held = b.held / str(next(b.serial))
            held.mkdir(mode=0o700)
            out = b.pfs / "out"
            for name in os.listdir(out):
                os.rename(out / name, held / name)
            if later is not None:
                later.append(held)  # stored by the caller while the next datum runs
                return Outcome(True, tries, code, logs, time.monotonic() - started, None)
            try:
                tree = outputs.put_dir(held)
            finally:
                shutil.rmtree(held, ignore_errors=True)
            return Outcome(True, tries, code, logs, time.monotonic() - started, tree)
        if tries == spec.datum_tries and spec.transform.err_cmd and (left is None or left > 0):
            _empty(b.run_dir)
            log_host.touch()
            err_stdin = "".join(line + "\n" for line in spec.transform.err_stdin)
            got = _run(b, spec.transform.err_cmd, cwd, env, err_stdin, log_in, log_host, timeout, spec)
            verdict = (
                "err_cmd exited 0: the datum is recovered (no output; it runs again in the next job)"
                if got == 0
                else f"err_cmd exited {got}: the datum failed"
            )
            logs += f"[err_cmd]\n{tail(log_host)}[datavc] {verdict}\n"
            if got == 0:
                took = time.monotonic() - started
                return Outcome(True, tries, code, logs, took, ctx.empty_tree, recovered=True)
    return Outcome(False, tries, code, logs, time.monotonic() - started, None)


def _run(
    b: Box,
    cmd: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    stdin: str,
    log_in: Path,
    log_host: Path,
    timeout: float,
    spec: PipelineSpec,
    pending: list[Callable[[], None]] | None = None,
) -> int:
    b.shim.start(ShimRequest(list(cmd), cwd, env, log_in, timeout, stdin, wipe=("/tmp",)))
    try:
        _drain(pending or [])  # the previous datum's outputs are stored while this one runs
    finally:
        got = b.shim.result()
    if got.error:
        with open(log_host, "ab") as log:
            log.write(f"[datavc] cannot run {cmd[0]!r}: {got.error}\n".encode())
    elif got.timed_out:
        which = "datum" if timeout == spec.datum_timeout else "job"
        limit = spec.datum_timeout if which == "datum" else spec.job_timeout
        with open(log_host, "ab") as log:
            log.write(f"\n[datavc] killed after the {which} timeout of {limit}s\n".encode())
    return got.code
