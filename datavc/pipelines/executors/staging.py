"""What a datum's transform is given: its environment (an allow-list) and its staged inputs.

Shared by the per-datum local executor, the batched one and Kubernetes workers.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from datavc.context import Context, storage_errors
from datavc.errors import CorruptData
from datavc.export import Exporter
from datavc.pipelines.datums import Datum
from datavc.pipelines.glob import expand_join_key
from datavc.pipelines.spec import PipelineSpec
from storage.model import name_problem

__all__ = ["pach_env", "passed_env", "stage", "stage_fresh", "transform_env"]

# What a transform inherits from the scheduler's environment; everything else (database
# URLs, cloud keys, tokens, datavc's own settings) stays out. The spec's `env` and the
# DATAVC_* variables of the datum are added on top.
_PASSED = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR"})


def passed_env() -> dict[str, str]:
    """What passes from the scheduler's environment: ``PATH``, ``HOME``, ``LANG``, ``LC_*``,
    ``TZ`` and ``TMPDIR`` (an executor reads it once per job: decoding every variable of
    ``os.environ`` for each datum was a tenth of a trivial datum's cost in the scheduler)."""
    return {k: v for k, v in os.environ.items() if k in _PASSED or k.startswith("LC_")}


def transform_env(
    spec_env: dict[str, str], datavc_env: dict[str, str], *, passed: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment a transform runs with: an allow-list, never the scheduler's own.

    ``passed_env()`` (or ``passed``, read earlier) from the scheduler; then the spec's
    ``env``; then ``datavc_env`` (``DATAVC_IN``/``OUT``/``JOB_ID``/``DATUM_ID``, and the
    ``PACH_*`` variables of ``pach_env``), which the spec cannot override.
    """
    env = dict(passed) if passed is not None else passed_env()
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


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def stage_fresh(ctx: Context, datum: Datum, in_dir: Path) -> None:
    """:func:`stage` into input directories known to be empty (a batched worker's ``/pfs``,
    just cleared): each file is written in place, without a temp file and a rename.

    The same guarantees: names decoded from the tree are checked, nothing is written
    through a link (``O_NOFOLLOW``/``O_EXCL``; a parent that is not a real directory is
    refused), so nothing lands outside ``in_dir/<dir>``. A directory datum uses :func:`stage`.
    """
    for f in datum.files:
        if f.entry.is_dir:
            Exporter(ctx.store, in_dir / f.dir).write_tree(f.entry.hash, f.path)
            continue
        parts = f.path.split("/")
        for part in parts:
            if (problem := name_problem(part)) is not None:
                raise CorruptData(f"refusing to stage {f.path[:200]!r}: {part!r}: {problem}")
        parent = os.path.join(in_dir, f.dir)
        for part in parts[:-1]:
            parent = os.path.join(parent, part)
            try:
                os.mkdir(parent)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(parent).st_mode):  # a link or a file: not followed
                    raise CorruptData(
                        f"refusing to stage {f.path[:200]!r}: {parent} is not a directory"
                    ) from None
        fd = os.open(os.path.join(parent, parts[-1]), _CREATE, 0o666)
        with os.fdopen(fd, "wb") as out, storage_errors():
            for piece in ctx.store.iter_content(f.entry, cache=False):
                out.write(piece)
