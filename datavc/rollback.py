"""Rollback: a new commit whose content is an earlier commit's; history is kept."""

from __future__ import annotations

from collections.abc import Mapping

from datavc.commits import one_shot
from datavc.context import Context
from datavc.errors import Conflict
from datavc.files import snapshot
from datavc.info import CommitInfo


def rollback(
    ctx: Context,
    repo_name: str,
    branch: str,
    to: str,
    *,
    message: str | None = None,
    force: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> CommitInfo:
    """Commit ``to``'s tree on top of ``branch`` (origin ``rollback``), whatever the branch did since.

    Downstream pipelines see a new commit whose datums they already know, so their
    outputs come back without recomputation.
    """
    target = snapshot(ctx, repo_name, to)
    head = snapshot(ctx, repo_name, branch)
    if head.tree == target.tree and head.commit == target.commit:
        raise Conflict(f"{repo_name}@{branch} is already at {target.commit[:12]}")
    return one_shot(
        ctx,
        repo_name,
        branch,
        lambda w, tree: target.tree,
        message=message or f"rollback to {to} ({target.commit[:12]})",
        origin="rollback",
        mode="exact",
        force=force,
        metadata=metadata,
    )
