"""A serving subreaper shim: one per executor thread, running that thread's datums one after another.

The one-shot shim (``reaper.shim_argv``) starts a Python interpreter per datum: 20-80 ms
on a busy 2-core machine, several times the cost of a trivial datum. ``Shim`` starts
``reaper.py --serve`` once and sends it one request per datum over a pipe, so a datum
costs a fork and exec in the shim plus one round trip, with every guarantee of the
one-shot shim kept: the shim is the transform's subreaper (nothing the transform started
outlives the datum), dies with the thread that started it (``PR_SET_PDEATHSIG``), and is
recorded in the datum's row (``datavc.pipelines.orphans``) so a scheduler reclaiming the
job kills it with its whole tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from datavc.pipelines import reaper


@dataclass(frozen=True, slots=True)
class ShimResult:
    """How one command ended: its exit code (negative: killed by that signal)."""

    code: int
    timed_out: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class ShimRequest:
    """One command for the shim: run ``argv`` in ``cwd`` with exactly ``env``, output appended to ``log``.

    ``timeout``: seconds it may run; ``deadline``: a ``time.monotonic()`` value it may not
    run past either (the job's timeout; the clock is the same in every process of the
    host), checked when the shim starts it, which may be later than the request was
    sent. ``wipe``: directories (as the shim sees them) it empties after the command.
    """

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    timeout: float
    stdin: str = ""
    deadline: float | None = None
    wipe: tuple[str, ...] = ()

    def wire(self) -> dict[str, object]:
        """The JSON object ``reaper.serve`` reads."""
        out: dict[str, object] = {
            "argv": self.argv,
            "cwd": str(self.cwd),
            "env": self.env,
            "stdin": self.stdin,
            "log": str(self.log),
            "timeout": self.timeout,
        }
        if self.deadline is not None:
            out["deadline"] = self.deadline
        if self.wipe:
            out["wipe"] = list(self.wipe)
        return out


class Shim:
    """A ``reaper.py --serve`` child of the calling thread (use it from that thread only)."""

    def __init__(self, argv: list[str] | None = None) -> None:
        """Start ``reaper.py --serve`` (or ``argv``: the same shim started inside the sandbox)."""
        self._proc = subprocess.Popen(
            argv or reaper.serve_argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        self.pid = self._proc.pid
        self._start = reaper.start_time(self.pid)

    def note(self, scratch: Path) -> str:
        """The orphans note of this shim running a datum in ``scratch``."""
        return json.dumps(
            {"boot": reaper.boot_id(), "pid": self.pid, "start": self._start, "scratch": str(scratch)}
        )

    def run(self, req: ShimRequest) -> ShimResult:
        """Run ``req`` to its end (or timeout); everything it started is gone when this returns.

        Raises:
            OSError: the shim is gone (killed from outside); the caller starts another.
        """
        self.start(req)
        return self.result()

    def start(self, req: ShimRequest) -> None:
        """Hand ``req`` to the shim and return at once; ``result`` waits for its end.

        Why split: the caller prepares the next datum, and stores the previous one's
        outputs, while this one runs. Requests started before the previous ones' results
        are read queue up in the shim's pipe, and it runs them one after another, each as
        soon as the one before it (and everything that one started) is gone: with the
        next datum already waiting there, no round trip to the scheduler lies between
        two datums. ``result`` answers them in the order they were started.
        """
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(req.wire()) + "\n")
            self._proc.stdin.flush()
        except BaseException:
            self.kill()
            raise

    def result(self) -> ShimResult:
        """Wait for the command handed over by ``start`` to end (see ``run``)."""
        assert self._proc.stdout is not None
        try:
            line = self._proc.stdout.readline()
        except BaseException:
            self.kill()
            raise
        if not line:
            self.kill()
            raise OSError(f"the datum shim (pid {self.pid}) exited unexpectedly")
        answer = json.loads(line)
        return ShimResult(int(answer["code"]), bool(answer.get("timeout")), str(answer.get("error", "")))

    def close(self) -> None:
        """End the shim (EOF on its stdin) and wait for it."""
        with contextlib.suppress(OSError, ValueError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(OSError, ValueError):
            if self._proc.stdout is not None:
                self._proc.stdout.close()

    def kill(self, grace: float = 5.0) -> None:
        """Stop the shim and its tree: SIGTERM (it kills and reaps everything below it), then SIGKILL."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self._proc.wait()
        for f in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                if f is not None:
                    f.close()


class ShimPool:
    """One shim per thread, started on first use and ended by ``close``."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[Shim] = []
        self._lock = threading.Lock()

    def get(self) -> Shim:
        """This thread's shim (a new one if it has none, or its last one died)."""
        shim: Shim | None = getattr(self._local, "shim", None)
        if shim is None or shim._proc.poll() is not None:
            shim = Shim()
            self._local.shim = shim
            with self._lock:
                self._all.append(shim)
        return shim

    def close(self) -> None:
        """End every shim started (each exits at EOF, killing anything left below it)."""
        with self._lock:
            shims, self._all = self._all, []
        for s in shims:
            s.close()
