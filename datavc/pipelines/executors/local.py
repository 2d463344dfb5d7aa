"""The local executor: each datum runs as a subprocess in its own scratch directory.

The transform sees its inputs under ``$DATAVC_IN/<input name>/<path as in the repo>``
(copies: user code can never write through to stored objects) and writes outputs to
the empty ``$DATAVC_OUT``; ``DATAVC_JOB_ID`` and ``DATAVC_DATUM_ID`` are set too. Up to
``parallelism`` datums run at once. Only regular files inside ``$DATAVC_OUT`` are
ingested: anything written elsewhere, and symbolic links (which could point out of it),
are not.
"""

from __future__ import annotations

import contextlib
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
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome
from datavc.pipelines.spec import PipelineSpec

LOG_LIMIT = 64 * 1024


def scratch_dir(ctx: Context) -> Path:
    """Where datums of this store run (beside the store when it has a home)."""
    return Path(ctx.home) / "scratch" if ctx.home else Path(tempfile.gettempdir()) / "datavc-scratch"


_SECRET_PREFIXES = ("DATAVC_", "AWS_", "PG", "KUBE")
_SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "CREDENTIAL")


def _secret(name: str) -> bool:
    """Environment variables user code must not inherit from the scheduler: datavc's own
    settings and credentials (the transform gets what its spec's ``env`` gives it)."""
    upper = name.upper()
    return upper.startswith(_SECRET_PREFIXES) or any(w in upper for w in _SECRET_WORDS)


def stage(ctx: Context, datum: Datum, in_dir: Path) -> None:
    """Copy a datum's input files into ``in_dir/<input>/<path>`` (never outside ``in_dir/<input>``)."""
    for f in datum.files:
        out = Exporter(ctx.store, in_dir / f.input)
        if f.entry.is_dir:
            out.write_tree(f.entry.hash, f.path)
        else:
            out.write(f.path, f.entry)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], stdin: bytes, log: IO[bytes], timeout: float) -> int:
    """Run the transform in its own process group; on timeout the whole group is killed."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # background processes it left behind stop writing now
    return proc.returncode


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
) -> Outcome:
    """Run one datum, retried up to ``datum_tries`` times; store its outputs on success.

    With ``pfs_root`` (a worker pod's ``/pfs``) inputs go to ``pfs_root/<input>`` and
    outputs come from ``pfs_root/out``, emptied before each try, as in Pachyderm.
    """
    started = time.monotonic()
    exit_code: int | None = None
    logs = ""
    tries = 0
    for tries in range(1, spec.datum_tries + 1):
        work = Path(tempfile.mkdtemp(prefix=f"datum-{datum.hash[:12]}-", dir=scratch))
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
            env = {k: v for k, v in os.environ.items() if not _secret(k)}
            env.update(spec.transform.env)
            env.update(
                DATAVC_IN=str(in_dir),
                DATAVC_OUT=str(out_dir),
                DATAVC_JOB_ID=job_id,
                DATAVC_DATUM_ID=datum.hash,
            )
            log_path = work / "log"
            stdin = "".join(line + "\n" for line in spec.transform.stdin or [])
            with open(log_path, "wb") as log:
                try:
                    exit_code = _run(
                        list(spec.transform.cmd), work, env, stdin.encode(), log, spec.datum_timeout
                    )
                except subprocess.TimeoutExpired:
                    exit_code = -9
                    log.write(
                        f"\n[datavc] killed after the datum timeout of {spec.datum_timeout}s\n".encode()
                    )
                except OSError as err:
                    exit_code = 127
                    log.write(f"[datavc] cannot run {spec.transform.cmd[0]!r}: {err.strerror}\n".encode())
            logs = f"[try {tries}/{spec.datum_tries}]\n" + _tail(log_path)
            if exit_code == 0:
                with ctx.store.writer() as w:
                    tree = w.put_dir(out_dir, follow_symlinks=False)
                return Outcome(True, tries, 0, logs, time.monotonic() - started, tree)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return Outcome(False, tries, exit_code, logs, time.monotonic() - started, None)


class LocalExecutor:
    """Runs a job's datums as local subprocesses, ``parallelism`` at a time."""

    name = "local"

    def __init__(self, scratch: str | os.PathLike[str] | None = None) -> None:
        self.scratch = Path(scratch) if scratch else Path(tempfile.gettempdir()) / "datavc-scratch"

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

        def one(d: Datum) -> None:
            on_start(d)
            on_done(d, run_datum(ctx, spec, job_id, d, self.scratch))

        with ThreadPoolExecutor(max_workers=max(1, spec.parallelism), thread_name_prefix="datum") as pool:
            for fut in [pool.submit(one, d) for d in datums]:
                fut.result()
