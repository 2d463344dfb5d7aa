"""The bubblewrap sandbox for local transforms (``bwrap``; Debian package ``bubblewrap``).

A sandboxed datum sees a new root file system built from read-only binds of the
system directories (``/usr``, ``/etc``, ``/opt``, the ``/bin``/``/lib`` links) and of the
Python installation datavc runs from (so ``import datavc`` works for batched Python
transforms), plus:

- ``/pfs/<input>``: the datum's inputs, read-only; ``/pfs/out``: its output, the only
  writable place that is kept (``$DATAVC_IN`` = ``/pfs``, ``$DATAVC_OUT`` = ``/pfs/out``,
  so Pachyderm code with hard-coded ``/pfs`` paths runs unchanged);
- a private, empty ``/tmp`` (also ``$HOME``), ``/dev`` and ``/proc``;
- its own PID namespace (``--unshare-pid``: when the transform ends, the kernel kills
  everything left in it, so no daemon survives), IPC and UTS namespaces, and with
  ``sandbox.network: false`` its own empty network namespace;
- no capabilities; the root file system is read-only; with ``transform.user`` it runs
  under that uid/gid (in a user namespace).

The store directory, the user's home and everything else on the host are simply not
mounted; if a bound directory contains the store (a store inside a development
checkout), an empty tmpfs hides it.

Why bubblewrap: it needs no daemon and no root, starts in a few milliseconds, and is
what Flatpak uses. Where it is missing, ``require`` explains how to install it, and the
executor runs the transform unsandboxed only if the store's config allows it
(``"executor": {"unsandboxed": "allow"}``, docs/security.md).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from datavc.errors import InvalidArgument

PFS = "/pfs"
_SYSTEM_DIRS = ("/usr", "/etc", "/opt")
_TOP_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
INSTALL_HINT = "apt-get install bubblewrap (Debian/Ubuntu) or dnf install bubblewrap (Fedora)"


class SandboxUnavailable(InvalidArgument):
    """The sandbox is required but ``bwrap`` cannot be used here."""


def bwrap() -> str | None:
    """The ``bwrap`` executable on ``PATH``, or None."""
    return shutil.which("bwrap")


@dataclass(frozen=True, slots=True)
class Confinement:
    """What one sandboxed run may see and do."""

    pfs: Path  # host directory mounted at /pfs (holds out/ and one directory per input)
    inputs: tuple[str, ...]  # directories of ``pfs`` mounted read-only
    network: bool = True
    user: str | None = None
    cwd: str = PFS
    hide: tuple[Path, ...] = ()  # host paths that must stay invisible even if under a bind
    run: Path | None = None  # host directory at RUN (a serving shim's datum logs), read-write


def _python_roots() -> list[Path]:
    """Where this Python and datavc live, so a batched Python transform can ``import datavc``."""
    package_parent = Path(__file__).resolve().parents[2]  # .../datavc/pipelines/sandbox.py
    roots = {Path(sys.base_prefix), Path(sys.prefix), package_parent}
    return sorted(r for r in roots if not any(r.is_relative_to(d) for d in _SYSTEM_DIRS))


def _ids(user: str) -> tuple[int, int]:
    uid, sep, gid = user.partition(":")
    if sep and uid.isdigit() and gid.isdigit():
        return int(uid), int(gid)
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, ValueError):
        if user.isdigit():
            return int(user), int(user)
        raise InvalidArgument(f"transform.user {user!r}: no such user on this machine") from None
    return entry.pw_uid, entry.pw_gid


RUN = "/run/datavc"  # where a serving shim inside the sandbox writes the current datum's log


def argv(cmd: list[str], c: Confinement, exe: str) -> list[str]:
    """The ``bwrap`` command line that runs ``cmd`` confined by ``c``."""
    args = [exe, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += ["--cap-drop", "ALL"]
    if not c.network:
        args.append("--unshare-net")
    if c.user is not None:
        uid, gid = _ids(c.user)
        args += ["--unshare-user", "--uid", str(uid), "--gid", str(gid)]
    binds: list[Path] = []
    for d in _SYSTEM_DIRS:
        if os.path.isdir(d):
            args += ["--ro-bind", d, d]
            binds.append(Path(d))
    for link in _TOP_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
            binds.append(Path(link))
    # Private /tmp (and /dev, /proc) before the Python binds: a venv or checkout under /tmp
    # stays visible on top of the empty tmpfs instead of being covered by it.
    args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for root in _python_roots():
        if root.is_dir():
            args += ["--ro-bind", str(root), str(root)]
            binds.append(root)
    for h in c.hide:
        if any(h.is_relative_to(b) for b in binds) and h.exists():
            args += ["--tmpfs", str(h)]
    args += ["--bind", str(c.pfs / "out"), f"{PFS}/out"]
    for name in c.inputs:
        args += ["--ro-bind", str(c.pfs / name), f"{PFS}/{name}"]
    if c.run is not None:
        args += ["--bind", str(c.run), RUN]
    args += ["--remount-ro", "/", "--chdir", c.cwd, "--"]
    return args + cmd


def inner_env(env: dict[str, str]) -> dict[str, str]:
    """The transform's environment as seen inside: host paths replaced by sandbox ones."""
    out = dict(env)
    out.update({"DATAVC_IN": PFS, "DATAVC_OUT": f"{PFS}/out", "HOME": "/tmp", "TMPDIR": "/tmp"})
    return out


def input_dirs(names: Iterable[str]) -> tuple[str, ...]:
    """The top-level directory names under /pfs that hold inputs (never ``out``)."""
    return tuple(sorted({n.split("/", 1)[0] for n in names} - {"out"}))


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """The sandbox a job's datums run in: ``bwrap`` and the pipeline's settings."""

    exe: str
    network: bool
    user: str | None
    hide: tuple[Path, ...]

    def confine(self, pfs: Path, inputs: Iterable[str], working_dir: str | None) -> Confinement:
        """The confinement of one run with ``pfs`` mounted at /pfs."""
        return Confinement(pfs, input_dirs(inputs), self.network, self.user, working_dir or PFS, self.hide)


def uses_pfs(args: Iterable[str]) -> bool:
    """Whether a transform's command or stdin names a ``/pfs`` path (Pachyderm code, which
    reads ``/pfs/<input>`` and writes ``/pfs/out``: only the sandbox has those paths)."""
    return any(_PFS_PATH.search(a) for a in args)


_PFS_PATH = re.compile(r"(?<![\w./~-])/pfs(?=/|$|[\s'\"`;:)|&])")


def for_job(
    spec_sandbox_network: bool | None,
    user: str | None,
    settings: dict[str, object],
    hide: Iterable[Path],
    pfs_paths: bool = False,
) -> SandboxConfig | None:
    """The sandbox for a job, or None to run unsandboxed.

    The store's ``executor.sandbox`` setting decides: ``"always"`` sandboxes every pipeline,
    ``"pipeline"`` (the default) those whose spec has a ``sandbox`` section or a
    ``transform.user``, or whose transform names ``/pfs`` paths (``pfs_paths``: a
    Pachyderm spec as published), ``"off"`` none. A job that wants the sandbox where ``bwrap`` is
    missing fails with a message saying how to install it, unless the store's config has
    ``executor.unsandboxed: "allow"``.

    Raises:
        SandboxUnavailable: the sandbox is wanted, bwrap is missing, and running
            unsandboxed was not allowed.
        InvalidArgument: an unknown ``executor.sandbox`` setting.
    """
    mode = str(settings.get("sandbox") or "pipeline")
    if mode not in ("always", "pipeline", "off"):
        raise InvalidArgument(f"executor.sandbox is {mode!r}: use 'always', 'pipeline' or 'off'")
    wanted = mode == "always" or (
        mode == "pipeline" and (spec_sandbox_network is not None or user is not None or pfs_paths)
    )
    if not wanted:
        return None
    exe = bwrap()
    if exe is None:
        if settings.get("unsandboxed") == "allow":
            import logging

            logging.getLogger(__name__).warning(
                "bwrap is not installed: running the transform WITHOUT the sandbox, as the store's "
                "config allows (executor.unsandboxed = allow); to sandbox it: %s",
                INSTALL_HINT,
            )
            return None
        why = " (the transform uses /pfs paths, which only the sandbox provides)" if pfs_paths else ""
        raise SandboxUnavailable(
            f"the sandbox{why} needs bubblewrap (bwrap), which is not installed: {INSTALL_HINT}; "
            'or allow unsandboxed runs with "executor": {"unsandboxed": "allow"} in the store\'s config.json'
        )
    network = True if spec_sandbox_network is None else spec_sandbox_network
    return SandboxConfig(exe, network, user, tuple(hide))
