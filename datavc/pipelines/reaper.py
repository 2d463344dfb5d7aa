"""Transforms leave nothing behind: a per-datum child subreaper, and killing orphans safely.

Why a subreaper, and why one per datum: a transform may start background processes, and
a double-forked daemon escapes its parent's process group and session, so killing a
process group is not enough. On Linux, a process marked ``PR_SET_CHILD_SUBREAPER``
inherits every orphaned descendant instead of init, so it can always find and kill them.
One small shim process per datum (this file, run as a script with ``python -I -S``, so
it imports nothing but the standard library) is the subreaper: it runs the transform,
waits for it, then SIGKILLs every process left below it and reaps them before it exits
with the transform's status. A per-datum shim (rather than the scheduler itself) knows
exactly which processes are whose when datums run in parallel, needs no root (unlike a
PID namespace or a cgroup) and costs one short-lived interpreter per datum try.

The shim also asks for ``PR_SET_PDEATHSIG``: when the scheduler dies (SIGKILL included)
the shim gets SIGTERM and takes its whole tree down. As a second line, the scheduler
records each running datum's shim (host boot id, pid, process start time, scratch
directory) in the datum's row; a scheduler that reclaims an abandoned job kills a shim
still alive on this host (the start time guards against a reused pid) and removes its
scratch directory before the datum runs again, so a datum never runs twice at once.

Elsewhere than Linux there is no subreaper: the transform runs in its own session whose
process group is killed when the datum ends (a double-forked daemon can escape that).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SUPPORTED = sys.platform.startswith("linux")
SCRIPT = Path(__file__).resolve()

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def serve_argv() -> list[str]:
    """The command that starts a serving shim (``serve``) whose parent is this process."""
    return [sys.executable, "-I", "-S", str(SCRIPT), str(os.getpid()), "--serve"]


def shim_argv(cmd: list[str]) -> list[str]:
    """The command that runs ``cmd`` under a subreaper shim whose parent is this process."""
    return [sys.executable, "-I", "-S", str(SCRIPT), str(os.getpid()), "--", *cmd]


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process we can see (from ``/proc/<pid>/stat``)."""
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # it exited meanwhile
        # The command name (field 2) is in parentheses and may hold anything: parse after it.
        fields = stat[stat.rfind(b")") + 2 :].split()
        out[int(name)] = int(fields[1])
    return out


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (children first, then theirs)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    frontier = [root]
    while frontier:
        nxt: list[int] = []
        for p in frontier:
            nxt.extend(children.get(p, ()))
        out.extend(nxt)
        frontier = nxt
    return out


def kill_descendants_and_reap() -> None:
    """SIGKILL every process below this one and reap them all (we are their subreaper)."""
    me = os.getpid()
    while True:
        for pid in descendants(me):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return  # no child left: everything below us is gone
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue


def start_time(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields[0] == b"Z":
        return None  # a zombie: it has exited
    return int(fields[19])


_BOOT_ID: list[str] = []


def boot_id() -> str:
    """This machine's boot id: a pid recorded under another boot (or host) means nothing here.

    Read once per process (it cannot change while we run); every datum's note carries it.
    """
    if not _BOOT_ID:
        try:
            _BOOT_ID.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        except OSError:
            return ""
    return _BOOT_ID[0]


def kill_recorded(pid: int, started: int, *, grace: float = 5.0, wait: float = 30.0) -> bool:
    """Kill a datum's shim recorded earlier, if it is still the same process; wait until it is gone.

    SIGTERM makes the shim kill and reap its whole tree first; SIGKILL to its process group
    follows after ``grace`` seconds. Returns True when the process is gone (or was never
    there), False if it still runs after ``wait`` seconds.
    """
    if start_time(pid) != started:
        return True  # gone, or the pid now belongs to another process: leave that alone
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    t0 = time.monotonic()
    killed = False
    while start_time(pid) == started:
        elapsed = time.monotonic() - t0
        if not killed and elapsed > grace:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # the shim leads its own session and group
            killed = True
        if elapsed > wait:
            return False
        time.sleep(0.02)
    return True


def _has_children() -> bool:
    """Whether any process is still below this one: after its transform is reaped, only
    orphans reparented to us (the subreaper) can be left; ``/proc/.../children`` says so
    without scanning every process on the machine."""
    pid = os.getpid()
    try:
        return bool(Path(f"/proc/{pid}/task/{pid}/children").read_bytes().strip())
    except OSError:
        return True  # no such file (kernel without CONFIG_PROC_CHILDREN): scan to be sure


def _executable(name: str, env: dict[str, str]) -> str:
    """``name`` looked up in ``env``'s ``PATH``, as ``subprocess`` does (``posix_spawnp`` would
    use the shim's own ``PATH``); raises ``FileNotFoundError`` when it is nowhere."""
    if os.sep in name:
        return name
    for d in os.get_exec_path(env):
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(errno.ENOENT, "No such file or directory", name)


def _feed(fd: int, data: bytes) -> None:
    """Write ``data`` to the command's stdin pipe, then close it (a thread: the pipe may fill)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        pass  # EPIPE: the command (and everything below it) exited without reading it all
    finally:
        os.close(fd)


def _run(req: dict[str, Any], feeders: list[threading.Thread]) -> dict[str, object]:
    """Run one request through ``posix_spawn`` and wait for it on a pidfd.

    Why not ``subprocess.Popen``: its Python set-up (error pipe, fd juggling, the polling
    ``wait``) costs about a millisecond per datum in this loop; ``posix_spawn`` is one
    clone and exec. The shim serves one datum at a time in one thread, so changing its own
    directory to the command's is safe (``posix_spawn`` has no chdir action before 3.13).
    stdin is ``/dev/null``, or a pipe a thread feeds the request's ``stdin`` through
    (appended to ``feeders``: joined once everything the command started is gone).
    SIGPIPE and SIGXFSZ are back to their defaults in the command, as ``Popen`` does.
    The command leads its own process group (killed as a whole when it ends), in the shim's
    session: a session per datum would also be a scheduler autogroup per datum (Linux's
    ``sched_autogroup``), which cost about a millisecond per datum on a loaded machine; the
    shim's own session has no terminal either.
    """
    timeout = float(req["timeout"])
    if req.get("deadline") is not None:
        timeout = min(timeout, float(req["deadline"]) - time.monotonic())
        if timeout <= 0:
            return {"code": -9, "timeout": True}  # the job's time ran out while it waited
    data = req["stdin"].encode()
    rfd = -1
    try:
        os.chdir(req["cwd"])
        exe = _executable(req["argv"][0], req["env"])
        log = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if data:
                rfd, wfd = os.pipe()
                feeders.append(threading.Thread(target=_feed, args=(wfd, data), daemon=True))
                stdin: tuple[Any, ...] = (os.POSIX_SPAWN_DUP2, rfd, 0)
            else:
                stdin = (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
            pid = os.posix_spawn(
                exe,
                req["argv"],
                req["env"],
                file_actions=[stdin, (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)],
                setpgroup=0,
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            )
        finally:
            os.close(log)
            if rfd >= 0:
                os.close(rfd)
    except OSError as err:
        for f in feeders:
            f.run()  # nothing reads the pipe now: this closes it at once (EPIPE or no reader)
        feeders.clear()
        return {"code": 127, "error": err.strerror or str(err)}
    for f in feeders:
        f.start()
    answer: dict[str, object]
    if _wait_pid(pid, timeout):
        answer = {"code": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        answer = {"code": -9, "timeout": True}
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # its background jobs stop writing now
    return answer


def _wait_pid(pid: int, timeout: float) -> bool:
    """Whether child ``pid`` ended within ``timeout`` seconds (it is not reaped here).

    A pidfd (Linux 5.3+) becomes readable exactly when the process ends, so one ``poll``
    call does the wait; ``Popen.wait(timeout=...)`` instead polls with sleeps that double up
    to 50 ms, noticing the end of a datum up to half its run time late. Without pidfds,
    ``waitid`` with ``WNOWAIT`` is polled the same way.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        end, delay = time.monotonic() + timeout, 0.0005
        while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return True
    try:
        waiter = select.poll()
        waiter.register(fd, select.POLLIN)
        return bool(waiter.poll(max(0, int(timeout * 1000))))  # PEP 475: retried after signals
    finally:
        os.close(fd)


def _wipe(path: str) -> None:
    """Empty directory ``path`` (kept): a sandboxed shim's private ``/tmp`` between datums."""
    import shutil

    with contextlib.suppress(OSError):
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def serve(stopping: list[int]) -> int:
    """Run one command per request line on stdin; answer each with a JSON line on stdout.

    A request is ``{"argv", "cwd", "env", "stdin", "log", "timeout"}`` (and ``"deadline"``: a
    ``time.monotonic()`` value it may not run past, the job's timeout; ``"wipe"``: directories
    emptied after the command, such as a sandbox's private ``/tmp``); the command runs in
    its own session with stdout and stderr appended to ``log``; after it ends (or is killed
    at ``timeout``) everything it left behind is killed and reaped, exactly as in one-shot
    mode. The answer is ``{"code": N}`` (``"timeout": true`` when it was killed, ``"error"``
    when it could not start). EOF on stdin ends the shim. Why: one interpreter per datum
    costs tens of milliseconds, as much as a trivial datum; a shim serving many datums
    costs one per executor thread and job.
    """
    import json

    def on_signal(signum: int, frame: object) -> None:
        # Between requests we are blocked reading stdin: take everything down and go now.
        kill_descendants_and_reap()
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if stopping:
        on_signal(stopping[0], None)
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        feeders: list[threading.Thread] = []
        answer = _run(req, feeders)
        if _has_children():
            kill_descendants_and_reap()
        for f in feeders:
            f.join()  # its reader is gone now, so a write left blocked has failed
        for d in req.get("wipe", ()):
            _wipe(d)
        out.write(json.dumps(answer) + "\n")
        out.flush()
    kill_descendants_and_reap()
    return 0


def main(argv: list[str]) -> int:
    """``reaper.py PARENT_PID -- CMD...``: run CMD as a subreaper; exit as CMD did.

    ``reaper.py PARENT_PID --serve``: run commands read from stdin, one after another (``serve``).
    """
    parent, cmd = int(argv[0]), argv[2:]
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    stopping: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stopping.append(signum)
        for pid in descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if parent and os.getppid() != parent:
        return 128 + signal.SIGTERM  # the scheduler died before we asked to be told
    # PARENT 0: inside the sandbox, whose bwrap (--die-with-parent) ties us to the scheduler.
    if argv[1] == "--serve":
        return serve(stopping)
    # A batched transform's datum socket (datavc.batching) passes through to it.
    fd = os.environ.get("DATAVC_DATUM_FD", "")
    try:
        child = subprocess.Popen(cmd, pass_fds=(int(fd),) if fd.isdigit() else ())
    except OSError as err:
        sys.stderr.write(f"[datavc] cannot run {cmd[0]!r}: {err.strerror}\n")
        return 127
    if stopping:
        on_signal(stopping[0], None)
    code = child.wait()
    kill_descendants_and_reap()
    if code < 0:
        # Die of the same signal, so the scheduler sees what the transform saw.
        sys.stdout.flush()
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP have no handler
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
