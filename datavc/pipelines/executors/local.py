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

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from datavc.context import Context
from datavc.export import Exporter
from datavc.pipelines import orphans, reaper
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome
from datavc.pipelines.glob import expand_join_key
from datavc.pipelines.secrets import SecretUnavailable, local_secret_env, pod_secret_env
from datavc.pipelines.spec import PipelineSpec

LOG_LIMIT = 64 * 1024


def scratch_dir(ctx: Context) -> Path:
    """Where jobs of this store make their temporary roots: the system temporary directory
    (``$TMPDIR``), outside the store, so a transform cannot reach the store's files via ``..``."""
    return Path(tempfile.gettempdir())


# What a transform inherits from the scheduler's environment; everything else (database
# URLs, cloud keys, tokens, datavc's own settings) stays out. The spec's `env` and the
# DATAVC_* variables of the datum are added on top.
_PASSED = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR"})


def transform_env(spec_env: dict[str, str], datavc_env: dict[str, str]) -> dict[str, str]:
    """The environment a transform runs with: an allow-list, never the scheduler's own.

    ``PATH``, ``HOME``, ``LANG``, ``LC_*``, ``TZ`` and ``TMPDIR`` pass from the scheduler;
    then the spec's ``env``; then ``datavc_env`` (``DATAVC_IN``/``OUT``/``JOB_ID``/``DATUM_ID``,
    and the ``PACH_*`` variables of ``pach_env``), which the spec cannot override.
    """
    env = {k: v for k, v in os.environ.items() if k in _PASSED or k.startswith("LC_")}
    env.update(spec_env)
    env.update(datavc_env)
    return env


def pach_env(spec: PipelineSpec, job_id: str, datum: Datum) -> dict[str, str]:
    """What Pachyderm code reads about its datum: ``PACH_JOB_ID``, ``PACH_DATUM_ID``,
    ``PACH_OUTPUT_COMMIT_ID`` and, for each input of a join or group that the datum holds
    files of, ``PACH_DATUM_<input>_JOIN_ON`` or ``PACH_DATUM_<input>_GROUP_BY`` (its key).

    The output commit's id is the job's id (as in Pachyderm 2.x): the runner opens it under
    that id once every datum has run.
    """
    env = {"PACH_JOB_ID": job_id, "PACH_DATUM_ID": datum.hash, "PACH_OUTPUT_COMMIT_ID": job_id}
    keys = {
        p.name: (expr, suffix)
        for p in spec.inputs()
        for expr, suffix in ((p.join_on, "JOIN_ON"), (p.group_by, "GROUP_BY"))
        if expr is not None
    }
    for f in datum.files:
        if f.input in keys:
            expr, suffix = keys[f.input]
            env[f"PACH_DATUM_{f.input}_{suffix}"] = expand_join_key(expr, f.groups)
    return env


def stage(ctx: Context, datum: Datum, in_dir: Path) -> None:
    """Copy a datum's input files into ``in_dir/<dir>/<path>`` (never outside ``in_dir/<dir>``);
    ``<dir>`` is the input's name, or its ``dir`` for a union member that sets one."""
    for f in datum.files:
        out = Exporter(ctx.store, in_dir / f.dir)
        if f.entry.is_dir:
            out.write_tree(f.entry.hash, f.path)
        else:
            out.write(f.path, f.entry)


def _run(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    stdin: bytes,
    log: IO[bytes],
    timeout: float,
    on_spawn: Callable[[int], None] | None = None,
) -> int:
    """Run the transform under a subreaper shim (Linux) in its own session; nothing it started
    survives its end, a timeout, or an exception here."""
    argv = reaper.shim_argv(cmd) if reaper.SUPPORTED else cmd
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        if on_spawn is not None:
            on_spawn(proc.pid)
        proc.communicate(stdin, timeout=timeout)
    except BaseException:
        _stop(proc)
        raise
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # background processes it left behind stop writing now
    return proc.returncode


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a running transform: the shim kills and reaps its tree on SIGTERM; then SIGKILL."""
    if reaper.SUPPORTED:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(path: Path) -> str:
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size > LOG_LIMIT:
            f.seek(size - LOG_LIMIT)
            data = b"[... earlier output dropped ...]\n" + f.read()
        else:
            data = f.read()
    return data.decode("utf-8", errors="replace")


def run_datum(
    ctx: Context,
    spec: PipelineSpec,
    job_id: str,
    datum: Datum,
    scratch: Path,
    *,
    pfs_root: Path | None = None,
    record: bool = True,
    deadline: float | None = None,
) -> Outcome:
    """Run one datum, retried up to ``datum_tries`` times; store its outputs on success.

    With ``pfs_root`` (a worker pod's ``/pfs``) inputs go to ``pfs_root/<input>`` and
    outputs come from ``pfs_root/out``, emptied before each try, as in Pachyderm.
    With ``record``, the running shim and scratch directory are noted in the datum's row
    (``datavc.pipelines.orphans``) so a scheduler reclaiming the job can clean up.
    ``deadline`` (a ``time.monotonic()`` value: the job's ``job_timeout``) bounds every try.
    The command runs in ``transform.working_dir`` when set (a missing directory fails the
    datum with a message saying so), else in the scratch directory; an exit code listed in
    ``transform.accept_return_code`` counts as success.
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
        if record:
            orphans.ensure_running(ctx, job_id)  # a stopped job tries no datum (again)
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
                in_dir, out_dir = work / "in", work / "out"
                in_dir.mkdir()
            out_dir.mkdir()
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
            elif not cwd.is_dir():
                refusal = (
                    f"[datavc] transform.working_dir {str(cwd)!r} does not exist or is not a directory "
                    "where this datum runs\n"
                )
            if refusal:
                # Trying again cannot help: the datum fails now, saying why.
                exit_code = -9 if left is not None and left <= 0 else 127
                logs = f"[try {tries}/{spec.datum_tries}]\n" + refusal
                break
            with open(log_path, "wb") as log:
                if left is not None and left < timeout:
                    timeout = left
                try:
                    exit_code = _run(
                        list(spec.transform.cmd),
                        cwd,
                        env,
                        stdin.encode(),
                        log,
                        timeout,
                        on_spawn=(
                            functools.partial(orphans.record, ctx, job_id, datum.hash, scratch_dir=work)
                            if record
                            else None
                        ),
                    )
                except subprocess.TimeoutExpired:
                    exit_code = -9
                    which = "datum" if timeout == spec.datum_timeout else "job"
                    limit = spec.datum_timeout if which == "datum" else spec.job_timeout
                    log.write(f"\n[datavc] killed after the {which} timeout of {limit}s\n".encode())
                except OSError as err:
                    exit_code = 127
                    log.write(f"[datavc] cannot run {spec.transform.cmd[0]!r}: {err.strerror}\n".encode())
            logs = f"[try {tries}/{spec.datum_tries}]\n" + _tail(log_path)
            if spec.transform.succeeded(exit_code):
                with ctx.store.writer() as w:
                    tree = w.put_dir(out_dir, follow_symlinks=False)
                return Outcome(True, tries, exit_code, logs, time.monotonic() - started, tree)
            if tries == spec.datum_tries and spec.transform.err_cmd and (left is None or left > 0):
                recovered, err_logs = _run_err_cmd(spec, cwd, env, work, timeout)
                logs += err_logs
                if recovered:
                    return Outcome(
                        True,
                        tries,
                        exit_code,
                        logs,
                        time.monotonic() - started,
                        ctx.empty_tree,
                        recovered=True,
                    )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return Outcome(False, tries, exit_code, logs, time.monotonic() - started, None)


def _run_err_cmd(
    spec: PipelineSpec, cwd: Path, env: dict[str, str], work: Path, timeout: float
) -> tuple[bool, str]:
    """Run ``transform.err_cmd`` after a datum's last failed try (same inputs and environment).

    Returns whether it recovered the datum (exited 0) and its log section. What it writes
    to ``$DATAVC_OUT`` is not kept: a recovered datum has no output.
    """
    log_path = work / "err-log"
    stdin = "".join(line + "\n" for line in spec.transform.err_stdin)
    with open(log_path, "wb") as log:
        try:
            code: int | None = _run(list(spec.transform.err_cmd), cwd, env, stdin.encode(), log, timeout)
        except subprocess.TimeoutExpired:
            code = -9
            log.write(f"\n[datavc] err_cmd killed after {timeout}s\n".encode())
        except OSError as err:
            code = 127
            log.write(f"[datavc] cannot run {spec.transform.err_cmd[0]!r}: {err.strerror}\n".encode())
    verdict = (
        "err_cmd exited 0: the datum is recovered (no output; it runs again in the next job)"
        if code == 0
        else f"err_cmd exited {code}: the datum failed"
    )
    return code == 0, f"[err_cmd]\n{_tail(log_path)}[datavc] {verdict}\n"


class LocalExecutor:
    """Runs a job's datums as local subprocesses, ``parallelism`` at a time.

    ``scratch`` is where each job's temporary root (``datavc-run-*``, mode 0700) is made;
    by default the system temporary directory (``$TMPDIR``), never the store directory: a
    transform must not reach the store's configuration or metadata through ``..``.
    """

    name = "local"

    def __init__(self, scratch: str | os.PathLike[str] | None = None) -> None:
        self.scratch = Path(scratch) if scratch else Path(tempfile.gettempdir())

    def run(
        self,
        ctx: Context,
        spec: PipelineSpec,
        job_id: str,
        datums: list[Datum],
        on_start: Callable[[Datum], None],
        on_done: Callable[[Datum, Outcome], None],
    ) -> None:
        """Run ``datums``; report each one's start and end (callbacks run in worker threads)."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=orphans.RUN_PREFIX, dir=self.scratch))  # mode 0700
        deadline = None if spec.job_timeout is None else time.monotonic() + spec.job_timeout

        def one(d: Datum) -> None:
            on_start(d)
            on_done(d, run_datum(ctx, spec, job_id, d, root, deadline=deadline))

        try:
            with ThreadPoolExecutor(max_workers=max(1, spec.parallelism), thread_name_prefix="datum") as pool:
                for fut in [pool.submit(one, d) for d in datums]:
                    fut.result()
        finally:
            shutil.rmtree(root, ignore_errors=True)
