"""Where each running datum's process tree lives, and cleaning up after a dead scheduler.

The local executor records, once a datum's subreaper shim has started, a JSON note in
the datum's row: this host's boot id, the shim's pid and start time, and the datum's
scratch directory. ``datum_done`` clears it. A scheduler that reclaims an abandoned job
(its owner stopped sending heartbeats) calls ``clean_up_job`` first: every shim still
alive on this host is killed with its whole tree (the start time guards against a pid
reused by an unrelated process), and its scratch directory is removed, before the job is
put back, so a datum never runs twice at once. Notes from another host (or boot) cannot
be acted on and are left to that host's pod or machine lifetime.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from datavc.context import Context
from datavc.db.models import Datum as DatumRow
from datavc.db.models import Job
from datavc.errors import Conflict
from datavc.pipelines import reaper

RUN_PREFIX = "datavc-run-"
DATUM_PREFIX = "datum-"
TRASH = ".trash"  # finished datums' directories, removed in the background (executors/outputs.Trash)


class JobStopped(Conflict):
    """The job was stopped ('datavc job stop'): none of its datums may start (again)."""


def check_running(s: Session, job_id: str) -> None:
    """Raise ``JobStopped`` when the job was stopped (it is no longer running or created)."""
    state = s.scalar(select(Job.state).where(Job.id == job_id))
    if state == "killed":
        raise JobStopped(f"job {job_id} was stopped")


STOP_CHECK_SECONDS = 0.1
"""``ensure_running`` reads a running job's state at most this often (per job and process)."""

_running_seen: dict[str, float] = {}  # job id -> when it was last read as not stopped
_stopped: set[str] = set()  # jobs read as killed: a final state, never read again
_seen_lock = threading.Lock()
_SEEN_MAX = 1024


def ensure_running(ctx: Context, job_id: str, *, fresh: bool = False) -> None:
    """Raise ``JobStopped`` when the job was stopped: checked before each try of a datum.

    It was one database read per datum start; now a job read as running in the last
    ``STOP_CHECK_SECONDS`` is not read again (unless ``fresh``: when something just died,
    and whether a stop killed it decides what to report). A stop is noticed that much
    later at most, and ``record`` checks again, in its write transaction, once a datum's
    process starts.
    """
    t = time.monotonic()
    with _seen_lock:
        stopped = job_id in _stopped
        seen = _running_seen.get(job_id)
    if stopped:
        raise JobStopped(f"job {job_id} was stopped")
    if not fresh and seen is not None and t - seen < STOP_CHECK_SECONDS:
        return
    try:
        with ctx.db.read() as s:
            check_running(s, job_id)
    except JobStopped:
        with _seen_lock:
            if len(_stopped) >= _SEEN_MAX:
                _stopped.clear()
            _stopped.add(job_id)
        raise
    with _seen_lock:
        if len(_running_seen) >= _SEEN_MAX:
            _running_seen.clear()  # bounded; a job dropped here is just read again
        _running_seen[job_id] = t


def record(ctx: Context, job_id: str, datum_hash: str, pid: int, *, scratch_dir: Path) -> None:
    """Note that ``pid`` (a subreaper shim) runs this datum in ``scratch_dir``.

    Raises:
        JobStopped: the job was stopped meanwhile; the caller kills what it just started.
    """
    started = reaper.start_time(pid)
    note = {"boot": reaper.boot_id(), "pid": pid, "start": started, "scratch": str(scratch_dir)}
    with ctx.db.write() as s:
        check_running(s, job_id)
        s.execute(
            update(DatumRow)
            .where(DatumRow.job_id == job_id, DatumRow.datum_hash == datum_hash)
            .values(process=json.dumps(note))
        )


def _scratch_to_remove(value: Any) -> Path | None:
    """The recorded scratch directory if it is one of ours: ``.../datavc-run-*/datum-*``, a real
    directory owned by this user (the database is not trusted to name what we delete)."""
    if not isinstance(value, str) or not value:
        return None
    p = Path(value)
    if not p.is_absolute() or ".." in p.parts:
        return None
    if not (p.name.startswith(DATUM_PREFIX) and p.parent.name.startswith(RUN_PREFIX)):
        return None
    try:
        st = p.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return None
    return p


def _run_root_to_remove(value: Any) -> Path | None:
    """The job root (``.../datavc-run-*``) of a recorded scratch path (which may be gone:
    a finished try's directory is moved into the root's ``.trash``), if it is ours."""
    if not isinstance(value, str) or not value:
        return None
    p = Path(value)
    if not p.is_absolute() or ".." in p.parts or not p.name.startswith(DATUM_PREFIX):
        return None
    root = p.parent
    if not root.name.startswith(RUN_PREFIX):
        return None
    try:
        st = root.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return None
    return root


def clean_up_job(ctx: Context, job_id: str, *, remove_scratch: bool = True) -> bool:
    """Kill what an abandoned job's datums left running on this host; remove their scratch.

    Returns False when some recorded process would not die (the job must not be put
    back yet), True otherwise. A stopped job that is still being run here keeps its
    scratch (``remove_scratch=False``): its executor removes it as it ends.
    """
    with ctx.db.read() as s:
        rows = s.execute(
            select(DatumRow.id, DatumRow.process).where(
                DatumRow.job_id == job_id, DatumRow.process.is_not(None)
            )
        ).all()
    if not rows:
        return True
    here = reaper.boot_id()
    all_gone = True
    cleared: list[int] = []
    for row_id, text in rows:
        try:
            note = json.loads(text or "")
        except ValueError:
            note = None
        if not isinstance(note, dict):
            cleared.append(row_id)
            continue
        pid, started = note.get("pid"), note.get("start")
        if note.get("boot") != here or not here:
            continue  # another machine's process: not ours to kill
        if (
            isinstance(pid, int)
            and isinstance(started, int)
            and pid > 1
            and not reaper.kill_recorded(pid, started)
        ):
            all_gone = False
            continue
        scratch = _scratch_to_remove(note.get("scratch")) if remove_scratch else None
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        root = _run_root_to_remove(note.get("scratch")) if remove_scratch else None
        if root is not None:
            # The dead run's finished datums waiting for removal, then its root once empty.
            shutil.rmtree(root / TRASH, ignore_errors=True)
            try:
                root.rmdir()
            except OSError:
                pass
        cleared.append(row_id)
    if cleared:
        with ctx.db.write() as s:
            s.execute(update(DatumRow).where(DatumRow.id.in_(cleared)).values(process=None))
    return all_gone
