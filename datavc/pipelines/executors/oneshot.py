"""Running a command once under a one-shot subreaper shim, and ``transform.err_cmd``.

Shared by the per-datum local executor (worker pods, callers without a serving shim) and
the batched one (``err_cmd`` after a datum's last failed try), so neither imports the other.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import IO

from datavc.pipelines import reaper
from datavc.pipelines.spec import PipelineSpec

LOG_LIMIT = 64 * 1024


def run(
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
        stop(proc)
        raise
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # background processes it left behind stop writing now
    return proc.returncode


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
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


def tail(path: Path) -> str:
    """The end of a datum's log: its last ``LOG_LIMIT`` bytes (a chatty transform cannot fill the DB)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size > LOG_LIMIT:
            f.seek(size - LOG_LIMIT)
            data = b"[... earlier output dropped ...]\n" + f.read()
        else:
            data = f.read()
    return data.decode("utf-8", errors="replace")


def run_err_cmd(
    spec: PipelineSpec, err_cmd: list[str], cwd: Path, env: dict[str, str], work: Path, timeout: float
) -> tuple[bool, str]:
    """Run ``transform.err_cmd`` after a datum's last failed try (same inputs and environment).

    Returns whether it recovered the datum (exited 0) and its log section. What it writes
    to ``$DATAVC_OUT`` is not kept: a recovered datum has no output.
    """
    log_path = work / "err-log"
    stdin = "".join(line + "\n" for line in spec.transform.err_stdin)
    with open(log_path, "wb") as log:
        try:
            code: int | None = run(err_cmd, cwd, env, stdin.encode(), log, timeout)
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
    return code == 0, f"[err_cmd]\n{tail(log_path)}[datavc] {verdict}\n"
