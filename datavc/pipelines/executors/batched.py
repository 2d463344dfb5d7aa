"""Datum batching with the local executor: the transform starts once per worker and asks for datums.

``transform.datum_batching: true`` (Pachyderm 2.x): ``parallelism`` workers each start
the transform once, under a subreaper shim (and the sandbox when configured), with a
socket as ``$DATAVC_DATUM_FD`` (``datavc.batching`` is the other end). On each request
the worker finishes the datum it handed out before (stores its output, reports it: a
success unless the transform said it failed), stages the next one into ``/pfs`` (the
worker's directory: ``<input>/...`` and an empty ``out/``) and answers with its paths.
Each datum is reported as it completes, so a crash resumes after the last finished one.

A transform that exits with a datum outstanding fails that datum (exit 0 counts as its
success: the loop ended normally after it) and, while datums remain, a new process
starts; a failed datum is handed out again until ``datum_tries`` is used up. A datum
not finished within ``datum_timeout`` kills the process and fails. The transform's output
between handing a datum out and its end is that datum's log.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from datavc.context import Context
from datavc.pipelines import orphans, reaper
from datavc.pipelines import sandbox as _sandbox
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import OnStart, Outcome
from datavc.pipelines.executors.oneshot import run_err_cmd
from datavc.pipelines.executors.outputs import OutputSink, OutputStore
from datavc.pipelines.executors.staging import pach_env, stage_fresh, transform_env
from datavc.pipelines.sandbox import SandboxConfig
from datavc.pipelines.spec import PipelineSpec

_LOG_LIMIT = 64 * 1024
# An output of at most this many regular files of at most _INLINE_BYTES each is read into
# memory and removed right away (no directory per datum to move it to and remove later).
_INLINE_FILES = 64
_INLINE_BYTES = 64 * 1024
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_ENCODE = json.JSONEncoder(check_circular=False).encode  # one encoder, not one per answer


class _Queue:
    """The job's datums still to hand out, with the tries each has had."""

    def __init__(self, datums: list[Datum]) -> None:
        self._q = collections.deque(datums)
        self._tries: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self) -> tuple[Datum, int] | None:
        with self._lock:
            if not self._q:
                return None
            d = self._q.popleft()
            self._tries[d.hash] = self._tries.get(d.hash, 0) + 1
            return d, self._tries[d.hash]

    def again(self, d: Datum) -> None:
        with self._lock:
            self._q.append(d)

    def put_back(self, d: Datum) -> None:
        """Undo ``take`` of a datum never handed out (staged ahead, then not needed)."""
        with self._lock:
            self._q.appendleft(d)
            self._tries[d.hash] -= 1

    def empty(self) -> bool:
        with self._lock:
            return not self._q


def _clear(pfs: Path | str) -> None:
    with os.scandir(pfs) as it:  # the file type comes with the listing: no stat per child
        for child in it:
            if child.is_dir(follow_symlinks=False):
                shutil.rmtree(child.path)
            else:
                os.unlink(child.path)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _read_log(path: Path, start: int, end: int | None = None) -> str:
    if end is not None and end <= start:
        return ""  # the transform printed nothing for this datum: no need to open the log
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(max(0, end - start))
    if len(data) > _LOG_LIMIT:
        data = b"[... earlier output dropped ...]\n" + data[-_LOG_LIMIT:]
    return data.decode("utf-8", errors="replace")


def _take_small(out: str) -> list[tuple[str, bytes]] | None:
    """The files in ``out``, read and removed, when it holds only a few small regular files;
    None (nothing removed) otherwise: subdirectories, links, special or larger files."""
    with os.scandir(out) as it:  # the file type comes with the listing: no stat per child
        entries = list(it)
    if len(entries) > _INLINE_FILES or not all(e.is_file(follow_symlinks=False) for e in entries):
        return None
    files: list[tuple[str, bytes]] = []
    try:
        for e in entries:
            fd = os.open(e.path, _READ)
            try:
                data = os.read(fd, _INLINE_BYTES + 1)
            finally:
                os.close(fd)
            if len(data) > _INLINE_BYTES:
                return None
            files.append((e.name, data))
    except OSError:
        return None  # unreadable, or replaced meanwhile: put_dir says what is wrong with it
    for e in entries:
        os.unlink(e.path)
    return files


@dataclass(frozen=True, slots=True)
class _Finished:
    """A datum that succeeded, its outputs read (``files``) or moved to ``held``, not yet
    stored and reported."""

    current: tuple[Datum, int, float, int]
    held: Path | None
    files: list[tuple[str, bytes]] | None
    log_end: int
    ended: float


class _Worker:
    """One batched transform process and the datums it works through."""

    def __init__(
        self,
        stager: Callable[[Datum, Path], None],
        spec: PipelineSpec,
        job_id: str,
        queue: _Queue,
        home: Path,
        on_start: OnStart,
        report: Callable[[Datum, Outcome], None],
        outputs: Callable[[Datum], OutputSink],
        sandbox: SandboxConfig | None,
        deadline: float | None,
        pfs: Path | None = None,
        ctx: Context | None = None,
        inline_outputs: bool = False,
    ) -> None:
        self.stager, self.spec, self.job_id, self.queue = stager, spec, job_id, queue
        self.ctx = ctx  # None on a job-token worker pod: no stop check here (the pod is deleted)
        self.pfs = pfs or home / "pfs"
        self._root = _sandbox.PFS if sandbox is not None else str(self.pfs)  # /pfs as the transform sees it
        self.log = home / "log"
        self._log_s = str(self.log)
        self.on_start, self.report, self.outputs, self.sandbox = on_start, report, outputs, sandbox
        self.deadline = deadline
        self.held = home / "held"  # a finished datum's outputs while they are stored
        # Staging ahead: while the transform works on a datum, the next one is staged here
        # (outside the sandbox's view), and moved into /pfs when asked for: the round trip
        # then costs a rename per input entry instead of reading the store. Only where
        # ``pfs`` is in ``home`` (one file system for the renames): not in a worker pod.
        self.ahead = home / "next" if pfs is None else None
        self.staged: tuple[Datum, int] | None = None
        self.ahead_ready = False  # ``staged`` is in ``ahead`` (else it is staged when handed out)
        self.staging_error: BaseException | None = None
        self.held_count = 0
        self.inline = inline_outputs  # small outputs go to the OutputStore as bytes
        self.note = ""  # the orphans note of the running process ('datavc job stop' kills it)
        self.pfs.mkdir(parents=True, exist_ok=True)
        self.held.mkdir(exist_ok=True)
        self.log.touch()
        # Every input's directory exists from the start: the sandbox mounts them once.
        self.mounts = _sandbox.input_dirs(p.mount for p in spec.inputs())
        if self.ahead is not None:
            for name in self.mounts:
                (self.ahead / name).mkdir(parents=True)
        # String paths for the per-datum work (pathlib's joins cost more than the syscalls).
        self._out_s = os.path.join(self.pfs, "out")
        self._mounts_s = [(os.path.join(self.pfs, m), os.path.join(self.ahead or "", m)) for m in self.mounts]

    def run(self) -> str:
        """Start processes until no datum is left; returns the log of a process that took none.

        Raises:
            JobStopped: the job was stopped ('datavc job stop'); no new process starts then.
        """
        while self.staged is not None or not self.queue.empty():
            if self.ctx is not None:  # a stop kills the process; none starts after it
                orphans.ensure_running(self.ctx, self.job_id, fresh=True)
            offset = self.log.stat().st_size
            if not self._one_process():
                self._unstage()  # left to the caller, which fails what nobody took
                return _read_log(self.log, offset)
        return ""

    def _env(self, fd: int) -> dict[str, str]:
        env = transform_env(
            dict(self.spec.transform.env),
            {
                "DATAVC_IN": str(self.pfs),
                "DATAVC_OUT": str(self.pfs / "out"),
                "DATAVC_JOB_ID": self.job_id,
                "DATAVC_DATUM_FD": str(fd),
                "PACH_JOB_ID": self.job_id,
            },
        )
        return _sandbox.inner_env(env) if self.sandbox is not None else env

    def _one_process(self) -> bool:
        """Run one transform process; False if it ended without asking for a datum."""
        _clear(self.pfs)
        for name in self.mounts:
            (self.pfs / name).mkdir()
        (self.pfs / "out").mkdir()
        mine, theirs = socket.socketpair()
        cmd = list(self.spec.transform.cmd)
        if self.sandbox is not None:
            cf = self.sandbox.confine(self.pfs, self.mounts, self.spec.transform.working_dir)
            cmd = _sandbox.argv(cmd, cf, self.sandbox.exe)
        cwd = (
            self.spec.transform.working_dir
            if self.sandbox is None and self.spec.transform.working_dir
            else None
        )
        argv = reaper.shim_argv(cmd) if reaper.SUPPORTED else cmd
        stdin = "".join(line + "\n" for line in self.spec.transform.stdin or [])
        with open(self.log, "ab") as log:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=cwd or str(self.pfs.parent),
                    env=self._env(theirs.fileno()),
                    stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                )
            except OSError as err:
                theirs.close()
                mine.close()
                self._unstage()
                self._fail_all(f"[datavc] cannot run {cmd[0]!r}: {err.strerror}\n")
                return False
        theirs.close()
        self.note = json.dumps(
            {
                "boot": reaper.boot_id(),
                "pid": proc.pid,
                "start": reaper.start_time(proc.pid),
                "scratch": str(self.pfs.parent),
            }
        )
        if stdin and proc.stdin is not None:
            try:
                proc.stdin.write(stdin.encode())
                proc.stdin.close()
            except OSError:
                pass  # the transform exited or closed its stdin without reading it all
        try:
            took = self._serve(mine, proc)
        finally:
            mine.close()
            if proc.poll() is None:
                reaper_kill(proc)
        return took

    def _serve(self, sock: socket.socket, proc: subprocess.Popen[bytes]) -> bool:
        """Answer the process's requests until it exits; True if it took a datum.

        Pipelined: when a datum succeeds, its outputs are moved aside and the next datum is
        handed out first; storing and reporting the finished one then overlaps the transform's
        work on the next (a round trip costs the transform only the staging of its datum).
        """
        current: tuple[Datum, int, float, int] | None = None  # datum, try, started, log offset
        took = False
        rfile = sock.makefile("rb")
        try:
            while True:
                limit = self.spec.datum_timeout
                if self.deadline is not None:
                    limit = min(limit, max(0.001, self.deadline - time.monotonic()))
                sock.settimeout(limit if current is not None else None)
                try:
                    line = rfile.readline()
                except (TimeoutError, OSError):
                    line = b""
                    if current is not None:
                        reaper_kill(proc)
                        self._end(current, False, -9, "\n[datavc] killed after the datum timeout\n")
                        current = None
                    return took
                if not line:
                    code = proc.wait()
                    if current is not None:
                        self._end(current, code == 0 or self.spec.transform.succeeded(code), code, "")
                    return took
                req = json.loads(line)
                finished: _Finished | None = None
                if current is not None:
                    if req.get("status") != "fail":
                        finished = self._hold(current, self.inline)
                    else:
                        note = f"[datavc] the transform failed the datum: {req.get('message', '')}\n"
                        self._end(current, False, 1, note)  # now: err_cmd sees its inputs
                    current = None
                try:
                    current = self._next()
                    if current is None:
                        sock.sendall(b'{"done": true}\n')
                        continue
                    took = True
                    sock.sendall(self._answer(current[0]))
                finally:
                    if finished is not None:
                        self._store(finished)
                self._stage_ahead()  # while the transform works on the datum just handed out
        finally:
            rfile.close()

    def _next(self) -> tuple[Datum, int, float, int] | None:
        """Stage the next datum into ``/pfs`` and record its start; None when none is left."""
        if self.ctx is not None:
            orphans.ensure_running(self.ctx, self.job_id)  # reads at most every 100 ms
        if self.staging_error is not None:
            err, self.staging_error = self.staging_error, None
            raise err
        got, self.staged = self.staged, None
        if got is None:
            got = self.queue.take()
        if got is None:
            return None
        d, tries = got
        # Empty the mounted directories, keeping them: the sandbox's binds point at them.
        for dst, _ in self._mounts_s:
            _clear(dst)
        if self.ahead is not None and self.ahead_ready:
            for dst, src in self._mounts_s:  # what was staged ahead: a rename per top-level entry
                for entry in os.listdir(src):
                    os.rename(os.path.join(src, entry), os.path.join(dst, entry))
            self.ahead_ready = False
        else:
            self.stager(d, self.pfs)
        self.on_start(d, self.note)
        return d, tries, time.monotonic(), os.stat(self._log_s).st_size

    def _stage_ahead(self) -> None:
        """Take the next datum from the queue and stage it into ``ahead`` (not yet handed out).

        A failure is kept and raised when the datum would have been staged (``_next``).
        """
        if self.ahead is None or self.staged is not None or self.staging_error is not None:
            return
        got = self.queue.take()
        if got is None:
            return
        self.staged = got
        try:
            self.stager(got[0], self.ahead)
            self.ahead_ready = True
        except Exception as err:  # raised again by _next, where the datum would have been staged
            self.staging_error = err
            self._clear_ahead()

    def _unstage(self) -> None:
        """Give a datum staged ahead back to the queue (the process ended without taking it)."""
        got, self.staged = self.staged, None
        if got is not None:
            self.queue.put_back(got[0])
        self._clear_ahead()
        self.staging_error = None

    def _clear_ahead(self) -> None:
        self.ahead_ready = False
        if self.ahead is not None:
            for _, src in self._mounts_s:
                _clear(src)

    def _answer(self, d: Datum) -> bytes:
        root = self._root
        answer = {
            "id": d.hash,
            "in": root,
            "out": f"{root}/out",
            "inputs": {f.input: f"{root}/{f.dir}" for f in d.files},
            "env": self._datum_env(d, root),
        }
        return _ENCODE(answer).encode() + b"\n"

    def _datum_env(self, d: Datum, root: str) -> dict[str, str]:
        env = {"DATAVC_DATUM_ID": d.hash, **pach_env(self.spec, self.job_id, d)}
        env.update({"DATAVC_IN": root, "DATAVC_OUT": f"{root}/out"})
        return env

    def _hold(self, current: tuple[Datum, int, float, int], inline: bool) -> _Finished:
        """Take a successful datum's outputs out of ``/pfs/out`` (kept: the sandbox binds it).

        With ``inline`` (the job's OutputStore takes files in memory) a small output is read
        and removed; otherwise its files move to a directory per datum, stored from the
        OutputStore's thread (or by the caller) later.
        """
        out = self._out_s
        if inline and (files := _take_small(out)) is not None:
            return _Finished(current, None, files, os.stat(self._log_s).st_size, time.monotonic())
        self.held_count += 1
        held = self.held / str(self.held_count)
        held.mkdir()
        for name in os.listdir(out):
            os.rename(os.path.join(out, name), os.path.join(held, name))
        return _Finished(current, held, None, os.stat(self._log_s).st_size, time.monotonic())

    def _store(self, f: _Finished) -> None:
        d, tries, started, offset = f.current
        logs = f"[try {tries}/{self.spec.datum_tries}]\n" + _read_log(self.log, offset, f.log_end)
        o = Outcome(True, tries, 0, logs, f.ended - started, None)
        sink = self.outputs(d)
        if isinstance(sink, OutputStore):
            # Stored, made durable and reported off this thread: the transform's next datum
            # does not wait for it.
            if f.files is not None:
                sink.store_files_and_report(d, o, f.files)
            else:
                assert f.held is not None
                sink.store_and_report(d, o, f.held, _remove_tree)
            return
        assert f.held is not None  # files are read into memory for an OutputStore only
        try:
            tree = sink.put_dir(f.held)
        finally:
            _remove_tree(f.held)
        self.report(d, dataclasses.replace(o, output_tree=tree))

    def _end(self, current: tuple[Datum, int, float, int], ok: bool, code: int | None, note: str) -> None:
        """Report how the datum in ``/pfs`` ended (retried while it has tries left)."""
        d, tries, started, offset = current
        logs = f"[try {tries}/{self.spec.datum_tries}]\n" + _read_log(self.log, offset) + note
        if ok:
            tree = self.outputs(d).put_dir(self.pfs / "out")
            _clear(self.pfs / "out")
            self.report(d, Outcome(True, tries, code, logs, time.monotonic() - started, tree))
            return
        _clear(self.pfs / "out")
        if tries < self.spec.datum_tries:
            self.queue.again(d)
            return
        if self.spec.transform.err_cmd and (self.deadline is None or self.deadline > time.monotonic()):
            recovered, err_logs = self._err_cmd(d)
            logs += err_logs
            if recovered:
                took = time.monotonic() - started
                self.report(d, Outcome(True, tries, code, logs, took, self._empty_tree(d), recovered=True))
                return
        self.report(d, Outcome(False, tries, code, logs, time.monotonic() - started, None))

    def _empty_tree(self, d: Datum) -> str:
        """The tree id of an empty output: the store's, or the sink's (a worker pod's server)."""
        if self.ctx is not None:
            return self.ctx.empty_tree
        empty = self.pfs.parent / ".datavc-empty-output"
        empty.mkdir(exist_ok=True)
        return self.outputs(d).put_dir(empty)

    def _err_cmd(self, d: Datum) -> tuple[bool, str]:
        """Run ``transform.err_cmd`` on datum ``d`` (still staged), as the per-datum executor does."""
        root = _sandbox.PFS if self.sandbox is not None else str(self.pfs)
        env = transform_env(dict(self.spec.transform.env), self._datum_env(d, root))
        cmd = list(self.spec.transform.err_cmd)
        cwd = self.pfs.parent
        if self.sandbox is not None:
            cf = self.sandbox.confine(self.pfs, self.mounts, self.spec.transform.working_dir)
            cmd, env = _sandbox.argv(cmd, cf, self.sandbox.exe), _sandbox.inner_env(env)
        elif self.spec.transform.working_dir:
            cwd = Path(self.spec.transform.working_dir)
        timeout = self.spec.datum_timeout
        if self.deadline is not None:
            timeout = min(timeout, max(0.001, self.deadline - time.monotonic()))
        try:
            return run_err_cmd(self.spec, cmd, cwd, env, self.pfs.parent, timeout)
        finally:
            _clear(self.pfs / "out")  # what err_cmd wrote is not kept

    def _fail_all(self, why: str) -> None:
        while (got := self.queue.take()) is not None:
            d, tries = got
            self.on_start(d)
            self.report(d, Outcome(False, tries, 127, why, 0.0, None))


def reaper_kill(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a worker process (its shim kills and reaps its tree on SIGTERM), then SIGKILL."""
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_batched(
    ctx: Context | None,
    spec: PipelineSpec,
    job_id: str,
    datums: list[Datum],
    root: Path,
    on_start: OnStart,
    on_done: Callable[[Datum, Outcome], None],
    *,
    deadline: float | None,
    sandbox: SandboxConfig | None,
    pfs_root: Path | None = None,
    stager: Callable[[Datum, Path], None] | None = None,
    outputs_for: Callable[[Datum], OutputSink] | None = None,
) -> None:
    """Run ``datums`` with ``min(parallelism, len(datums))`` batched transform processes.

    With ``pfs_root`` (a worker pod's ``/pfs``) one process works there. A worker pod that
    holds a job token, not the store, passes ``ctx=None`` with ``stager`` (reads a datum's
    inputs from the server) and ``outputs_for`` (uploads a datum's outputs to the server,
    which stores them durably before answering, so each outcome goes to ``on_done`` at once).
    """
    if not datums:
        return
    queue = _Queue(datums)
    if outputs_for is None or stager is None:
        assert ctx is not None, "run_batched needs a store context, or a stager and outputs_for"
    # Outputs are stored from the OutputStore's thread: it writes the objects itself.
    store = OutputStore(cast(Context, ctx), on_done, inline_writes=True) if outputs_for is None else None
    report = store.report if store is not None else on_done
    sink_for: Callable[[Datum], OutputSink] = outputs_for or (lambda d: cast(OutputStore, store))

    def stage_with(d: Datum, path: Path) -> None:
        if stager is not None:
            stager(d, path)
        else:
            stage_fresh(cast(Context, ctx), d, path)  # the worker emptied the input directories

    workers = 1 if pfs_root is not None else max(1, min(spec.parallelism, len(datums)))
    try:

        def one(i: int) -> str:
            # Named as a datum's scratch: a crashed job's is found and removed on resume (orphans).
            home = Path(tempfile.mkdtemp(prefix=f"{orphans.DATUM_PREFIX}worker-{i}-", dir=root))
            w = _Worker(
                stage_with,
                spec,
                job_id,
                queue,
                home,
                on_start,
                report,
                sink_for,
                sandbox,
                deadline,
                pfs_root,
                ctx,
                inline_outputs=store is not None,
            )
            return w.run()

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batched") as pool:
            futures = [pool.submit(one, i) for i in range(workers)]
            silent = [log for log in (fut.result() for fut in futures) if log]
        # A process that ended without asking for a datum leaves the rest: they fail, saying why.
        while (got := queue.take()) is not None:
            d, tries = got
            on_start(d)
            report(
                d,
                Outcome(
                    False,
                    tries,
                    None,
                    "[datavc] the batched transform exited without asking for this datum "
                    "(it must loop over datavc.datums() or 'datavc datum next'); its output:\n"
                    + (silent[0] if silent else ""),
                    0.0,
                    None,
                ),
            )
    finally:
        if store is not None:
            store.close()
