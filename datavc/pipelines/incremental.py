"""Incremental planning: a job plans only the datums its input diff touches.

A full plan lists, hashes and looks up every datum of the job's inputs, and merges every
datum's output tree: linear in the input, even when one file changed. When an earlier job
of the pipeline succeeded with the same spec, the new job's datums are that job's datums
with the ones the input diff touches swapped, and its output tree is that job's output
tree with the touched datums' outputs swapped. This module computes that, and gives up
(the caller then plans in full) whenever the shortcut is not provably equal to a full plan.

Why it is exact. Let ``C`` be the paths that differ between the old and new tree of an
input (``Trees.diff(..., dirs=True)``: files and directories), and call a path *affected*
when it is in ``C`` or an ancestor of a path in ``C``. A glob match at an unaffected path
has the same entry in both trees. So, per input kind:

- pfs: the datums at unaffected paths are the same on both sides; the *touched* datums
  are the matches at affected paths (computed on each side, without listing the rest).
- cross: a combination is touched when one of its parts is: ``full x ... x touched_i x
  ... x full`` for each changed child; untouched combinations are equal on both sides.
- union: the touched datums of its children.
- join, group: a datum depends on every file with its key, so a changed join or group
  is recomputed in full on both sides (all its datums are touched).

The new datum set is then ``previous - touched(old) + touched(new)`` (by datum hash,
which ignores commit ids), equal to a full plan. Carried-over datums are recorded as
*skipped* with the output the previous job had, which a full plan would also do
provided the pipeline still remembers that output for that hash: this is checked in the
same transaction that copies them (a forgotten result, ``datavc job restart-datum``,
a datum recovered by ``err_cmd`` all fail the check and force a full plan).

The output tree: a full plan merges every datum's output tree. When the previous job's
datums wrote disjoint paths (``Job.outputs_disjoint``, known from its own merge), each
output path has one owner, so deleting the outputs of the datums dropped and adding those
of the datums touched gives the same tree. Any overlap (two datums writing one path, a
file where a directory is) falls back to the full merge, which reports conflicts.

Not used (a full plan instead): a job that reprocesses (``--reprocess``,
``reprocess_spec: every_job``), a resumed job (it has datum rows already), no earlier
successful job with the same spec (a spec change, a different glob), an input with a
commit on one side only, a missing commit, or more than ``MAX_CHANGED_PATHS`` changes.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from datavc.context import Context
from datavc.db.models import Commit, DatumResult, Job
from datavc.db.models import Datum as DatumRow
from datavc.pipelines.datums import Commits, Datum, DatumFile, datum_hash, expand
from datavc.pipelines.glob import compile_glob
from datavc.pipelines.spec import Input, PfsInput, PipelineSpec
from storage.errors import PathConflict
from storage.model import Entry
from storage.tree import Trees

__all__ = ["MAX_CHANGED_PATHS", "Plan", "diff_datums", "merge_outputs", "plan_job", "record_datums"]

MAX_CHANGED_PATHS = 20_000
"""More changed paths than this in one input: plan in full (the shortcut stops paying)."""

_BATCH = 500  # hashes per IN (...) list


@dataclass(frozen=True, slots=True)
class Plan:
    """An incremental plan: the previous job, and what differs from it.

    Attributes:
        previous: the earlier successful job of the pipeline the plan starts from.
        previous_tree: its output tree.
        touched: the new job's datums the input diff touches (sorted as a full plan sorts).
        dropped: hashes of the previous job's datums not carried over as they were
            (touched on the old side or on the new one).
    """

    previous: str
    previous_tree: str
    touched: list[Datum]
    dropped: frozenset[str]


Affected = dict[str, set[str] | None]
"""Input name -> its affected paths (changed paths and their ancestors), or None if unchanged."""


def plan_job(
    ctx: Context,
    job_id: str,
    pipeline_id: int,
    spec: PipelineSpec,
    inputs: dict[str, str | None],
    reprocess: bool,
) -> Plan | None:
    """The incremental plan of a job that has not recorded datums yet, or None to plan in full."""
    if reprocess or spec.reprocess_spec == "every_job":
        return None
    with ctx.db.read() as s:
        if s.scalar(select(DatumRow.id).where(DatumRow.job_id == job_id).limit(1)) is not None:
            return None  # resumed: the full plan keeps what it recorded
        text = s.scalar(select(Job.spec).where(Job.id == job_id))
        prev = s.execute(
            select(Job.id, Job.inputs, Commit.tree)
            .join(Commit, Commit.id == Job.output_commit_id)
            .where(
                Job.pipeline_id == pipeline_id,
                Job.id != job_id,
                Job.state == "success",
                Job.outputs_disjoint.is_(True),
                Job.spec == text,
            )
            .order_by(Job.finished_at.desc())
            .limit(1)
        ).first()
        if prev is None:
            return None
        prev_id, prev_inputs_json, prev_tree = prev
        old = _commits(s, spec, json.loads(prev_inputs_json))
        new = _commits(s, spec, inputs)
    if old is None or new is None:
        return None
    got = diff_datums(ctx.store.trees, spec, old, new)
    if got is None:
        return None
    touched, dropped = got
    return Plan(prev_id, prev_tree, touched, dropped)


def diff_datums(
    trees: Trees, spec: PipelineSpec, old: Commits, new: Commits
) -> tuple[list[Datum], frozenset[str]] | None:
    """The datums over ``new`` that the input diff from ``old`` touches (sorted as a full plan
    sorts them), and the hashes of the datums over ``old`` to drop; None when an input has
    a commit on one side only or too many changes.

    A full plan over ``new`` is exactly: the datums over ``old`` whose hash is not dropped,
    plus the touched ones.
    """
    affected: Affected = {}
    for name, got in new.items():
        was = old.get(name)
        if (got is None) != (was is None) or name not in old:
            return None
        if got is None or was is None or got[2] == was[2]:
            affected[name] = None
            continue
        changed: set[str] = set()
        for d in trees.diff(was[2], got[2], dirs=True):
            changed.add(d.path)
            if len(changed) > MAX_CHANGED_PATHS:
                return None
        affected[name] = _with_ancestors(changed) if changed else None
    th = spec.transform_hash
    dropped = {datum_hash(th, files) for files in _touched(trees, spec.input, old, affected)}
    touched: dict[str, Datum] = {}
    for files in _touched(trees, spec.input, new, affected):
        h = datum_hash(th, files)
        touched.setdefault(h, Datum(files, h))
    dropped |= touched.keys()
    ordered = sorted(touched.values(), key=lambda d: [(f.input, f.path) for f in d.files])
    return ordered, frozenset(dropped)


def record_datums(ctx: Context, job_id: str, pipeline_id: int, plan: Plan) -> set[str] | None:
    """Record the job's datums from ``plan``; the hashes to run, or None to plan in full.

    The previous job's datums are copied as skipped in one statement, joined with the
    pipeline's remembered results: one whose result was forgotten or changed since is not
    copied, and unless the plan drops it anyway, nothing is recorded (a full plan decides).
    """
    try:
        with ctx.db.write() as s:
            return _record(s, job_id, pipeline_id, plan)
    except _NotCarried:
        return None  # rolled back: nothing was recorded


class _NotCarried(Exception):
    """A datum of the previous job cannot be carried over as it was."""


def _record(s: Session, job_id: str, pipeline_id: int, plan: Plan) -> set[str]:
    expected = s.scalar(select(Job.datums_total).where(Job.id == plan.previous)) or 0
    dropped = sorted(plan.dropped)
    had_dropped = 0
    for i in range(0, len(dropped), _BATCH):
        had_dropped += (
            s.scalar(
                select(func.count())
                .select_from(DatumRow)
                .where(DatumRow.job_id == plan.previous, DatumRow.datum_hash.in_(dropped[i : i + _BATCH]))
            )
            or 0
        )
    copied = _count(
        s,
        insert(DatumRow).from_select(
            ["job_id", "datum_hash", "key", "state", "output_tree"],
            select(
                literal(job_id),
                DatumRow.datum_hash,
                DatumRow.key,
                literal("skipped"),
                DatumResult.output_tree,
            )
            .join(
                DatumResult,
                (DatumResult.pipeline_id == pipeline_id)
                & (DatumResult.datum_hash == DatumRow.datum_hash)
                & (DatumResult.output_tree == DatumRow.output_tree),
            )
            .where(DatumRow.job_id == plan.previous),
        ),
    )
    removed = 0
    for i in range(0, len(dropped), _BATCH):
        batch = dropped[i : i + _BATCH]
        removed += _count(
            s, delete(DatumRow).where(DatumRow.job_id == job_id, DatumRow.datum_hash.in_(batch))
        )
    # Every datum of the previous job is either carried over or dropped (replanned).
    if copied - removed != expected - had_dropped:
        raise _NotCarried
    known: dict[str, str] = {}
    hashes = [d.hash for d in plan.touched]
    for i in range(0, len(hashes), _BATCH):
        known.update(
            s.execute(
                select(DatumResult.datum_hash, DatumResult.output_tree).where(
                    DatumResult.pipeline_id == pipeline_id,
                    DatumResult.datum_hash.in_(hashes[i : i + _BATCH]),
                )
            ).all()
        )
    if plan.touched:
        s.execute(
            insert(DatumRow),
            [
                {
                    "job_id": job_id,
                    "datum_hash": d.hash,
                    "key": json.dumps(d.key),
                    "state": "skipped" if known.get(d.hash) else "pending",
                    "output_tree": known.get(d.hash),
                }
                for d in plan.touched
            ],
        )
    carried = copied - removed
    skipped = carried + sum(1 for d in plan.touched if known.get(d.hash))
    s.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            datums_total=carried + len(plan.touched),
            datums_skipped=skipped,
            datums_processed=0,
            datums_failed=0,
        )
    )
    return {d.hash for d in plan.touched if not known.get(d.hash)}


def merge_outputs(ctx: Context, job_id: str, plan: Plan) -> str | None:
    """The job's output tree, edited from the previous job's; None to merge in full.

    None whenever an output path has two owners or a file meets a directory: the full
    merge then decides (and names the datums of a conflict).
    """
    touched = sorted(d.hash for d in plan.touched)
    dropped = sorted(plan.dropped)
    old: list[str | None] = []
    new: list[str | None] = []
    with ctx.db.read() as s:
        for i in range(0, len(dropped), _BATCH):
            old += s.scalars(
                select(DatumRow.output_tree).where(
                    DatumRow.job_id == plan.previous, DatumRow.datum_hash.in_(dropped[i : i + _BATCH])
                )
            ).all()
        for i in range(0, len(touched), _BATCH):
            new += s.scalars(
                select(DatumRow.output_tree)
                .where(DatumRow.job_id == job_id, DatumRow.datum_hash.in_(touched[i : i + _BATCH]))
                .order_by(DatumRow.datum_hash)
            ).all()
    trees = ctx.store.trees
    changes: dict[str, Entry | None] = {}
    for tree in old:
        if tree is None:
            return None
        for path, _ in trees.walk(tree):
            changes[path] = None
    added: set[str] = set()
    for tree in new:
        if tree is None:
            return None
        for path, e in trees.walk(tree):
            if path in added or (path not in changes and trees.get(plan.previous_tree, path) is not None):
                return None  # two owners: not disjoint (or a conflict), which the full merge tells
            added.add(path)
            changes[path] = e
    if not changes:
        return plan.previous_tree
    try:
        with ctx.store.writer() as w:
            return w.update_tree(plan.previous_tree, changes)
    except PathConflict:
        return None


def _count(s: Session, stmt: Executable) -> int:
    """Rows a statement inserted or deleted."""
    return cast(CursorResult[Any], s.execute(stmt)).rowcount


def _commits(s: Session, spec: PipelineSpec, inputs: dict[str, str | None]) -> Commits | None:
    out: Commits = {}
    for pfs in spec.inputs():
        if pfs.name not in inputs:
            return None
        cid = inputs[pfs.name]
        if cid is None:
            out[pfs.name] = None
            continue
        tree = s.scalar(select(Commit.tree).where(Commit.id == cid))
        if tree is None:
            return None
        out[pfs.name] = (pfs.repo, cid, tree)
    return out


def _with_ancestors(paths: set[str]) -> set[str]:
    out = set(paths)
    for p in paths:
        while "/" in p:
            p = p.rsplit("/", 1)[0]
            if p in out:
                break
            out.add(p)
    out.add("")
    return out


def _touched(trees: Trees, node: Input, commits: Commits, affected: Affected) -> list[tuple[DatumFile, ...]]:
    """The datums of ``node`` over ``commits`` that contain an affected path (see the module doc)."""
    if all(affected.get(p.name) is None for p in node.walk()):
        return []
    if node.pfs is not None:
        got = commits.get(node.pfs.name)
        paths = affected.get(node.pfs.name)
        if got is None or paths is None:
            return []
        return [(f,) for f in _matches_at(trees, got, node.pfs, paths)]
    if node.cross is not None:
        full: dict[int, list[tuple[DatumFile, ...]]] = {}
        out: list[tuple[DatumFile, ...]] = []
        for i, child in enumerate(node.cross):
            mine = _touched(trees, child, commits, affected)
            if not mine:
                continue
            parts = [
                mine if j == i else full.setdefault(j, expand(trees, other, commits))
                for j, other in enumerate(node.cross)
            ]
            out += [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*parts)]
        return out
    if node.union is not None:
        return [d for child in node.union for d in _touched(trees, child, commits, affected)]
    return expand(trees, node, commits)  # a join or group: every datum may have changed


def _matches_at(
    trees: Trees, commit: tuple[str, str, str], pfs: PfsInput, paths: set[str]
) -> list[DatumFile]:
    """What ``datums._matches`` yields at ``paths``, without walking the rest of the tree."""
    repo, cid, root = commit
    mount = pfs.dir or ""
    if pfs.glob.strip("/") == "":
        return [DatumFile(pfs.name, repo, cid, "", trees.dir_entry("", root), (), mount)]
    glob = compile_glob(pfs.glob)
    prefix = glob.literal_prefix
    out: list[DatumFile] = []
    for path in sorted(paths):
        below = not prefix or path.startswith(prefix + "/")
        if not path or not (below or (path == prefix and glob.depth is not None)):
            continue  # outside the literal prefix (** walks below it; a depth glob may end on it)
        if glob.depth is not None and path.count("/") + 1 != glob.depth:
            continue
        e = trees.get(root, path)
        if e is None:
            continue
        if glob.depth is None:
            if e.is_dir:
                continue  # ** matches files only (the walk yields no directories)
            groups = glob.match(path)
        else:
            groups = glob.match(path, is_dir=e.is_dir)
        if groups is not None:
            out.append(DatumFile(pfs.name, repo, cid, path, e, groups, mount))
    return out
