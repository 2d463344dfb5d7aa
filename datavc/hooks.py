"""Hooks: commands that judge a candidate commit before it lands, or hear about it after.

A hook belongs to a repo and a branch pattern (a glob over branch names) and fires on one
event:

- ``pre-commit`` (any commit finished on the branch: put, rm, cp, commit, rollback,
  revert, cherry-pick) and ``pre-merge`` (a merge into the branch, fast-forwards too):
  the command runs against the candidate commit's files, exported read-only to
  ``$DATAVC_COMMIT_DIR``, with the branch head it would replace in ``$DATAVC_BASE_DIR``
  (both read-only; ``DATAVC_REPO``, ``DATAVC_BRANCH``, ``DATAVC_COMMIT``, ``DATAVC_EVENT``
  are set). A non-zero exit, a crash or a timeout refuses the commit or merge (exit 5)
  with the tail of the hook's log; nothing lands. The result of every hook that ran is
  recorded with the commit it judged (:func:`results`).
- ``post-commit`` / ``post-merge``: notify, never block. A command (same environment,
  without the directories) or a webhook URL (an HTTP POST of the commit as JSON) runs in
  a background thread after the head moved; its outcome is recorded too.

Hooks run as local subprocesses with the local executor's isolation (an allow-listed
environment, a subreaper so nothing outlives the hook, a timeout). ``image`` is kept in
the spec for executors that run containers; the local executor ignores it, as it does
for transforms. Exporting the candidate costs its file count: hooks are for repos whose
commits a person would look at, not the 200,000-file ones (no hook, no cost).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from datavc.context import Context, now
from datavc.db.models import Hook, HookResult
from datavc.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from datavc.export import Exporter
from datavc.info import HookInfo, HookResultInfo
from datavc.names import check_name
from datavc.repos import get_repo

_log = logging.getLogger(__name__)

EVENTS = ("pre-commit", "pre-merge", "post-commit", "post-merge")
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
#: How much of a hook's output is kept (the end of it).
LOG_LIMIT = 16 * 1024

_PENDING: list[threading.Thread] = []
_PENDING_LOCK = threading.Lock()


class HookRefused(Conflict):
    """A pre-commit or pre-merge hook refused the candidate commit."""


def add_hook(
    ctx: Context,
    repo_name: str,
    name: str,
    event: str,
    *,
    cmd: list[str] | None = None,
    url: str | None = None,
    branches: str = "*",
    image: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    env: dict[str, str] | None = None,
) -> HookInfo:
    """Declare a hook (see the module docstring).

    Raises:
        InvalidArgument: an unknown event, no command (or, for post-hooks, no command or URL),
            a URL on a pre-hook, a bad timeout; AlreadyExists: the repo has a hook of that name.
    """
    check_name(name, "hook")
    if event not in EVENTS:
        raise InvalidArgument(f"unknown hook event {event!r}: use one of {', '.join(EVENTS)}")
    if url is not None and not event.startswith("post-"):
        raise InvalidArgument("a webhook URL only notifies: use it on post-commit or post-merge")
    if url is not None and not url.startswith(("http://", "https://")):
        raise InvalidArgument(f"webhook URL {url[:80]!r} must start with http:// or https://")
    if not cmd and url is None:
        raise InvalidArgument("a hook needs a command (or, to notify, a webhook URL)")
    if cmd and url is not None:
        raise InvalidArgument("give a hook a command or a URL, not both")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise InvalidArgument(f"hook timeout must be over 0 and at most {MAX_TIMEOUT:g} s")
    if not branches or len(branches) > 255:
        raise InvalidArgument("the branch pattern must be 1-255 characters")
    spec = {"cmd": list(cmd or []), "url": url, "image": image, "timeout": timeout, "env": dict(env or {})}
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        if s.scalars(select(Hook.id).where(Hook.repo_id == repo.id, Hook.name == name)).first():
            raise AlreadyExists(f"repo {repo_name!r} already has a hook {name!r}")
        h = Hook(
            repo_id=repo.id,
            name=name,
            event=event,
            branches=branches,
            spec=json.dumps(spec, sort_keys=True),
            created_at=now(),
            created_by=ctx.user,
        )
        s.add(h)
        s.flush()
        return _info(repo_name, h)


def list_hooks(ctx: Context, repo_name: str) -> list[HookInfo]:
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        rows = s.scalars(select(Hook).where(Hook.repo_id == repo.id).order_by(Hook.name))
        return [_info(repo_name, h) for h in rows]


def delete_hook(ctx: Context, repo_name: str, name: str) -> None:
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        h = s.scalars(select(Hook).where(Hook.repo_id == repo.id, Hook.name == name)).one_or_none()
        if h is None:
            raise NotFound(f"repo {repo_name!r} has no hook {name!r}")
        s.delete(h)


def results(ctx: Context, commit_id: str) -> list[HookResultInfo]:
    """What the hooks said about one commit, by hook name."""
    with ctx.db.read() as s:
        rows = s.scalars(
            select(HookResult).where(HookResult.commit_id == commit_id).order_by(HookResult.hook)
        )
        return [
            HookResultInfo(r.commit_id, r.hook, r.event, r.passed, r.exit_code, r.log, r.duration, r.at)
            for r in rows
        ]


def _info(repo: str, h: Hook) -> HookInfo:
    spec = json.loads(h.spec)
    return HookInfo(
        repo,
        h.name,
        h.event,
        h.branches,
        tuple(spec.get("cmd") or ()),
        spec.get("url"),
        spec.get("image"),
        float(spec.get("timeout", DEFAULT_TIMEOUT)),
        dict(spec.get("env") or {}),
        h.created_at,
        h.created_by,
    )


def matching(ctx: Context, repo_name: str, branch: str, event: str) -> list[HookInfo]:
    """The repo's hooks for ``event`` whose branch pattern matches ``branch`` (one query)."""
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        rows = s.scalars(
            select(Hook).where(Hook.repo_id == repo.id, Hook.event == event).order_by(Hook.name)
        ).all()
        return [_info(repo_name, h) for h in rows if fnmatch.fnmatchcase(branch, h.branches)]


@dataclass(frozen=True)
class Outcome:
    hook: str
    event: str
    passed: bool
    exit_code: int | None
    log: str
    duration: float


def run_pre_hooks(
    ctx: Context, repo_name: str, branch: str, event: str, commit_id: str, tree: str, base_tree: str
) -> list[Outcome]:
    """Run the matching pre-hooks against a candidate tree; raise HookRefused at the first failure.

    Returns the outcomes (all passed) to record with the commit.
    """
    hooks = matching(ctx, repo_name, branch, event)
    if not hooks:
        return []
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="datavc-hook-") as tmp:
        root = Path(tmp)
        commit_dir, base_dir = root / "commit", root / "base"
        Exporter(ctx.store, commit_dir).write_tree(tree)
        Exporter(ctx.store, base_dir).write_tree(base_tree)
        _read_only(commit_dir)
        _read_only(base_dir)
        env = {
            "DATAVC_REPO": repo_name,
            "DATAVC_BRANCH": branch,
            "DATAVC_COMMIT": commit_id,
            "DATAVC_EVENT": event,
            "DATAVC_COMMIT_DIR": str(commit_dir),
            "DATAVC_BASE_DIR": str(base_dir),
        }
        try:
            for h in hooks:
                o = _run_command(h, env, root, [commit_dir, base_dir])
                if not o.passed:
                    tail = " | ".join(o.log.strip().splitlines()[-5:]) or "(no output)"
                    why = "timed out" if o.exit_code == -9 else f"exit {o.exit_code}"
                    raise HookRefused(f"{event} hook {h.name!r} refused {repo_name}@{branch} ({why}): {tail}")
                outcomes.append(o)
        finally:
            _writable(root)
    return outcomes


def record(s: Any, commit_id: str, outcomes: list[Outcome]) -> None:
    """Record hook outcomes with the commit, in the caller's transaction."""
    for o in outcomes:
        s.merge(
            HookResult(
                commit_id=commit_id,
                hook=o.hook,
                event=o.event,
                passed=o.passed,
                exit_code=o.exit_code,
                log=o.log,
                duration=o.duration,
                at=now(),
            )
        )
    s.flush()


def notify(ctx: Context, repo_name: str, branch: str, event: str, commit: dict[str, Any]) -> None:
    """Start the matching post-hooks in the background; they never block or fail the caller."""
    try:
        hooks = matching(ctx, repo_name, branch, event)
    except Exception:
        return
    if not hooks:
        return
    env = {
        "DATAVC_REPO": repo_name,
        "DATAVC_BRANCH": branch,
        "DATAVC_COMMIT": commit["id"],
        "DATAVC_EVENT": event,
    }

    def run_all() -> None:
        outcomes = []
        for h in hooks:
            try:
                outcomes.append(_post(h, env, commit))
            except Exception as err:
                outcomes.append(
                    Outcome(h.name, event, False, None, f"[datavc] {type(err).__name__}: {err}", 0.0)
                )
        try:
            with ctx.db.write() as s:
                record(s, commit["id"], outcomes)
        except Exception as err:
            # A notification never fails the commit it reports, but a lost record is said.
            _log.warning("datavc: could not record %s hook results for %s: %s", event, commit["id"], err)

    t = threading.Thread(target=run_all, name=f"datavc-{event}", daemon=False)
    with _PENDING_LOCK:
        _PENDING[:] = [p for p in _PENDING if p.is_alive()]
        _PENDING.append(t)
    t.start()


def wait_notifications(timeout: float | None = None) -> None:
    """Wait for the post-hooks started so far (tests, and a process about to exit)."""
    with _PENDING_LOCK:
        pending = list(_PENDING)
    for t in pending:
        t.join(timeout)


def _post(h: HookInfo, env: dict[str, str], commit: dict[str, Any]) -> Outcome:
    if h.url is None:
        with tempfile.TemporaryDirectory(prefix="datavc-hook-") as tmp:
            return _run_command(h, env, Path(tmp))
    import httpx

    started = time.monotonic()
    body = {
        "event": env["DATAVC_EVENT"],
        "repo": env["DATAVC_REPO"],
        "branch": env["DATAVC_BRANCH"],
        "commit": commit,
    }
    try:
        resp = httpx.post(h.url, json=body, timeout=h.timeout)
        ok = resp.status_code < 400
        return Outcome(
            h.name,
            env["DATAVC_EVENT"],
            ok,
            resp.status_code,
            f"HTTP {resp.status_code}",
            time.monotonic() - started,
        )
    except httpx.HTTPError as err:
        return Outcome(
            h.name, env["DATAVC_EVENT"], False, None, f"[datavc] {err}", time.monotonic() - started
        )


#: What a hook inherits from datavc's environment (as transforms do); its spec's env and the
#: DATAVC_* variables come on top. Database URLs, cloud keys and tokens stay out.
_PASSED = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR"})


def _argv(cmd: list[str], work: Path, read_only: list[Path]) -> list[str]:
    """The command under bubblewrap when it is installed: the whole file system read-only
    (the candidate commit included, also for root), only the hook's scratch directory writable.
    Post-hooks (nothing to protect) run as they are."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or not read_only:
        return cmd
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--die-with-parent"]
    argv += ["--bind", str(work), str(work)]
    for d in read_only:
        argv += ["--ro-bind", str(d), str(d)]
    return [*argv, "--", *cmd]


def _run_command(
    h: HookInfo, datavc_env: dict[str, str], work: Path, read_only: Sequence[Path] = ()
) -> Outcome:
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k in _PASSED or k.startswith("LC_")}
    env.update(h.env)
    env.update(datavc_env)
    scratch = work / "scratch"
    scratch.mkdir(exist_ok=True)
    log_path = work / f"{h.name}.log"
    code: int | None
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(
                _argv(list(h.cmd), scratch, list(read_only)),
                cwd=scratch,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            code = 127
            log.write(f"[datavc] cannot run {h.cmd[0]!r}: {err.strerror}\n".encode())
        else:
            try:
                code = proc.wait(timeout=h.timeout)
            except subprocess.TimeoutExpired:
                code = -9
                log.write(f"\n[datavc] killed after the hook timeout of {h.timeout:g}s\n".encode())
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # nothing the hook started outlives it
                proc.wait()
    data = log_path.read_bytes()[-LOG_LIMIT:]
    took = time.monotonic() - started
    return Outcome(h.name, datavc_env["DATAVC_EVENT"], code == 0, code, data.decode("utf-8", "replace"), took)


def _read_only(root: Path) -> None:
    if not root.exists():
        root.mkdir(parents=True)
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), stat.S_IRUSR | stat.S_IRGRP)
        os.chmod(dirpath, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)


def _writable(root: Path) -> None:
    """Make the exported trees removable again (TemporaryDirectory removes them next)."""
    for dirpath, _dirs, _files in os.walk(root):
        os.chmod(dirpath, stat.S_IRWXU)
    if not root.exists():
        shutil.rmtree(root, ignore_errors=True)
