"""A zygote for the concurrency tests: imports datavc once, then forks one child per job.

Starting a fresh interpreter costs about a second (imports), which 8 writers or 20 kill
trials cannot afford on a small machine. The zygote is a plain subprocess of the test;
it reads one request per stdin line (JSON), forks a child per job (each opens its own
``Client``: no connection or thread crosses the fork), optionally SIGKILLs the children
still running after ``kill_after`` seconds (the zygote reaps them, so the pid it kills is
always its own child), and answers one JSON line: per job, how it ended and how long it ran.

Run: ``python worker_zygote.py`` (requests on stdin, answers on stdout).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from datetime import timedelta
from typing import Any

import storage.backends.local
from datavc.client import Client  # the expensive import, done once before forking
from tests.datavc.helpers import content

# No fsync of local objects in the children: these tests kill processes, not machines (the
# page cache survives SIGKILL), and 400 commits on 2 cores need every put to be cheap.
_local_init = storage.backends.local.LocalBackend.__init__


def _init_no_fsync(self: storage.backends.local.LocalBackend, root: Any, *, fsync: bool = True) -> None:
    _local_init(self, root, fsync=False)


storage.backends.local.LocalBackend.__init__ = _init_no_fsync  # type: ignore[method-assign]


def run_job(job: dict[str, Any]) -> None:
    """Runs in the forked child."""
    client = Client.open(job["home"])
    try:
        op = job["op"]
        repo = job["repo"]
        if op == "puts":  # n one-file commits to main
            w = job["worker"]
            for j in range(job["n"]):
                client.put_file(repo, "main", f"/w{w}/f{j}", content(w, j))
        elif op == "put_path":  # one put of a local file or directory
            client.put_file(repo, "main", job["path"], job["src"])
        elif op == "put_until":  # one-file commits until a deadline (and at least min_puts):
            w, j = job["worker"], 0  # given contents, then new ones
            known = [bytes.fromhex(h) for h in job["contents"]]
            while time.time() < job["deadline"] or j < job.get("min_puts", 0):
                data = known[j % len(known)] if j % 2 == 0 else content(w, j)
                client.put_file(repo, "main", f"/p{w}/f{j}", data)
                j += 1
        elif op == "gc_until":
            runs = 0
            while time.time() < job["deadline"] or runs == 0:
                client.gc(grace=timedelta(seconds=job["grace"]), force=job.get("force", False))
                runs += 1
        else:
            raise ValueError(f"unknown op {op!r}")
    finally:
        client.close()


def serve(request: dict[str, Any]) -> list[dict[str, Any]]:
    started: dict[int, tuple[int, float]] = {}
    for i, job in enumerate(request["jobs"]):
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                run_job(job)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        started[pid] = (i, time.monotonic())
    results: list[dict[str, Any]] = [{} for _ in request["jobs"]]
    kill_after = request.get("kill_after")
    if kill_after is not None:
        time.sleep(kill_after)
        for pid in started:
            # An exited child stays a zombie until reaped below: this pid is still ours.
            os.kill(pid, signal.SIGKILL)
    for pid, (i, t0) in started.items():
        _, status = os.waitpid(pid, 0)
        results[i] = {
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "seconds": time.monotonic() - t0,
        }
    return results


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        out = serve(json.loads(line))
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
