"""Previewing a spec's datums (``datavc datum list -f SPEC``) without running anything.

The datums are computed exactly as a job would (``datavc.pipelines.datums``) over the
heads of the spec's input branches now; nothing is recorded. Each is ``new``, or
``known`` when a pipeline of the spec's name already processed that datum (same inputs,
same transform) and a job would skip it.
"""

from __future__ import annotations

from sqlalchemy import select

from datavc.context import Context
from datavc.db.models import Branch, Commit, DatumResult, Pipeline
from datavc.info import DatumInfo
from datavc.pipelines.datums import Commits, compute_datums
from datavc.pipelines.spec import PipelineSpec
from datavc.repos import get_repo


def preview_datums(ctx: Context, spec: PipelineSpec) -> list[DatumInfo]:
    """The datums ``spec`` would make over its inputs' current heads.

    Raises:
        RepoNotFound: an input repo does not exist.
    """
    commits: Commits = {}
    with ctx.db.read() as s:
        for pfs in spec.inputs():
            repo = get_repo(s, pfs.repo)
            head = s.scalar(
                select(Branch.head_id).where(Branch.repo_id == repo.id, Branch.name == pfs.branch)
            )
            c = s.get(Commit, head) if head else None
            commits[pfs.name] = (pfs.repo, c.id, c.tree) if c is not None else None
        pipeline_id = s.scalar(select(Pipeline.id).where(Pipeline.name == spec.name))
        datums = compute_datums(ctx.store.trees, spec, commits)
        known: set[str] = set()
        if pipeline_id is not None:
            hashes = [d.hash for d in datums]
            for i in range(0, len(hashes), 500):
                known.update(
                    s.scalars(
                        select(DatumResult.datum_hash).where(
                            DatumResult.pipeline_id == pipeline_id,
                            DatumResult.datum_hash.in_(hashes[i : i + 500]),
                        )
                    )
                )
    return [
        DatumInfo(
            "",
            d.hash,
            tuple((a, b, c) for a, b, c in d.key),
            "known" if d.hash in known else "new",
            0,
            None,
            None,
            None,
        )
        for d in datums
    ]
