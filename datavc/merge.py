"""Merge, revert and cherry-pick: bring a change onto a branch, three-way at path level.

All three compare two trees against a base (:mod:`datavc.threeway`) and commit the result
on the branch head by compare-and-swap. A writer that loses the race (the branch moved
meanwhile) computes again from the new head, so concurrent merges into one branch lose
nothing. Only a merge records a second parent; revert and cherry-pick make ordinary
commits (their message and metadata name the commit they came from).

- merge SRC into DST: base = the merge base of DST's head and SRC, ours = DST's head,
  theirs = SRC. Fast-forward when DST's head is an ancestor of SRC (unless ``no_ff``);
  nothing to do when SRC is an ancestor of DST's head.
- cherry-pick C onto B: base = C's first parent, ours = B's head, theirs = C.
- revert C on B: base = C, ours = B's head, theirs = C's first parent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from datavc import commit_metadata, hooks, threeway
from datavc.commits import commit_info, record_metadata
from datavc.context import Context, new_id, now
from datavc.db.cas import retrying
from datavc.db.models import Commit, CommitParent
from datavc.errors import InvalidArgument, MergeConflicts
from datavc.graph import merge_base, parent_graph
from datavc.heads import Move, set_if_equals
from datavc.info import CommitInfo, MergeInfo
from datavc.refs import get_branch, get_commit, resolve
from datavc.repos import get_repo
from datavc.threeway import Side


@dataclass(frozen=True)
class _Plan:
    """What one attempt read: the branch head to build on and the trees to compare."""

    repo_id: int
    head: str | None
    head_tree: str
    source: str
    base: str | None
    base_tree: str
    theirs_tree: str


def merge(
    ctx: Context,
    repo_name: str,
    src_ref: str,
    branch: str,
    *,
    strategy: Side | None = None,
    ours: Sequence[str] = (),
    theirs: Sequence[str] = (),
    dry_run: bool = False,
    no_ff: bool = False,
    message: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> MergeInfo:
    """Merge ``src_ref`` into ``branch`` (see the module docstring).

    Raises:
        MergeConflicts: conflicts no strategy or glob resolved (nothing is written).
        NotFound: no such repo, ref or branch.
    """
    meta = commit_metadata.check_metadata(metadata)
    decide = threeway.resolver(_strategy(strategy), ours, theirs)

    def plan() -> _Plan:
        graph = parent_graph(ctx, repo_name)
        with ctx.db.read() as s:
            repo = get_repo(s, repo_name)
            src = resolve(s, repo, src_ref)
            if src.state != "finished":
                raise InvalidArgument(f"commit {src.id} is open: finish it before merging it")
            head_id = get_branch(s, repo, branch).head_id
            head_tree = get_commit(s, repo, head_id).tree if head_id else ctx.empty_tree
            base = merge_base(graph, head_id, src.id) if head_id else None
            base_tree = get_commit(s, repo, base).tree if base else ctx.empty_tree
            return _Plan(repo.id, head_id, head_tree, src.id, base, base_tree, src.tree)

    def attempt() -> MergeInfo | None:
        p = plan()
        if p.head is not None and p.base == p.source:
            return _info(repo_name, "merge", p, branch, "up-to-date", None, 0, dry_run=dry_run)
        if p.head is None or (p.base == p.head and not no_ff):
            if dry_run:
                return _info(repo_name, "merge", p, branch, "fast-forward", None, 0, dry_run=True)
            judged = hooks.run_pre_hooks(
                ctx, repo_name, branch, "pre-merge", p.source, p.theirs_tree, p.head_tree
            )
            with ctx.db.write() as s:
                why = f"merge {src_ref} ({p.source[:12]}): fast-forward"
                moved = set_if_equals(
                    s, p.repo_id, branch, p.head, p.source, who=ctx.user, why=why, move="merge"
                )
                if not moved:
                    return None
                repo = get_repo(s, repo_name)
                hooks.record(s, p.source, judged)
                c = commit_info(s, repo, get_commit(s, repo, p.source))
            hooks.notify(ctx, repo_name, branch, "post-merge", c.to_json())
            return _info(repo_name, "merge", p, branch, "fast-forward", c, 0)
        msg = message or f"merge {src_ref} into {branch}"
        return _combine(ctx, repo_name, branch, "merge", p, decide, dry_run, msg, meta, p.source)

    return retrying(attempt, f"merging {src_ref} into {repo_name}@{branch}")


def cherry_pick(
    ctx: Context,
    repo_name: str,
    ref: str,
    branch: str,
    *,
    strategy: Side | None = None,
    ours: Sequence[str] = (),
    theirs: Sequence[str] = (),
    dry_run: bool = False,
    message: str | None = None,
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
) -> MergeInfo:
    """Apply the change ``ref`` made (against its first parent) onto ``branch``'s head.

    Raises:
        MergeConflicts; NotFound.
    """
    how = (strategy, ours, theirs, dry_run, message, metadata, force)
    return _pick(ctx, repo_name, ref, branch, "cherry-pick", *how)


def revert(
    ctx: Context,
    repo_name: str,
    ref: str,
    branch: str | None = None,
    *,
    strategy: Side | None = None,
    ours: Sequence[str] = (),
    theirs: Sequence[str] = (),
    dry_run: bool = False,
    message: str | None = None,
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
) -> MergeInfo:
    """Apply the inverse of ``ref``'s change on ``branch`` (default: the branch ``ref`` was made on).

    Raises:
        MergeConflicts; NotFound; InvalidArgument: no branch given and the commit records none.
    """
    if branch is None:
        with ctx.db.read() as s:
            repo = get_repo(s, repo_name)
            branch = resolve(s, repo, ref).branch
        if branch is None:
            raise InvalidArgument(f"commit {ref!r} records no branch: say which branch to revert it on")
    how = (strategy, ours, theirs, dry_run, message, metadata, force)
    return _pick(ctx, repo_name, ref, branch, "revert", *how)


def _pick(
    ctx: Context,
    repo_name: str,
    ref: str,
    branch: str,
    operation: str,
    strategy: Side | None,
    ours: Sequence[str],
    theirs: Sequence[str],
    dry_run: bool,
    message: str | None,
    metadata: Mapping[str, str] | None,
    force: bool,
) -> MergeInfo:
    meta = commit_metadata.check_metadata(metadata)
    decide = threeway.resolver(_strategy(strategy), ours, theirs)

    def attempt() -> MergeInfo | None:
        with ctx.db.read() as s:
            repo = get_repo(s, repo_name)
            c = resolve(s, repo, ref)
            if c.state != "finished":
                raise InvalidArgument(f"commit {c.id} is open: only finished commits can be {operation}ed")
            parent_tree = get_commit(s, repo, c.parent_id).tree if c.parent_id else ctx.empty_tree
            head_id = get_branch(s, repo, branch).head_id
            head_tree = get_commit(s, repo, head_id).tree if head_id else ctx.empty_tree
            if operation == "revert":
                p = _Plan(repo.id, head_id, head_tree, c.id, c.id, c.tree, parent_tree)
            else:
                p = _Plan(repo.id, head_id, head_tree, c.id, c.parent_id, parent_tree, c.tree)
            first_line = c.message.splitlines()[0] if c.message else ""
        verb = "revert" if operation == "revert" else "cherry-pick"
        msg = message or (f'{verb} {c.id[:12]}: "{first_line}"' if first_line else f"{verb} {c.id[:12]}")
        key = "reverted_from" if operation == "revert" else "cherry_picked_from"
        meta_all = {key: p.source, **meta}
        return _combine(ctx, repo_name, branch, operation, p, decide, dry_run, msg, meta_all, None, force)

    return retrying(attempt, f"{operation} of {ref} onto {repo_name}@{branch}")


def _strategy(strategy: str | None) -> Side | None:
    if strategy is None:
        return None
    if strategy == "ours":
        return "ours"
    if strategy == "theirs":
        return "theirs"
    raise InvalidArgument(f"unknown strategy {strategy!r}: use ours or theirs")


def _combine(
    ctx: Context,
    repo_name: str,
    branch: str,
    operation: str,
    p: _Plan,
    decide: threeway.Resolver,
    dry_run: bool,
    message: str,
    meta: dict[str, str],
    second_parent: str | None,
    force: bool = False,
) -> MergeInfo | None:
    """Compare; then, unless a dry run or a conflict, commit the result if ``branch`` is still at ``p.head``.

    Returns None when the head moved (the caller computes again).
    """
    tw = threeway.compare(ctx.store.trees, p.base_tree, p.head_tree, p.theirs_tree, decide)
    result = "conflict" if tw.conflicts else "merged"
    if second_parent is None and not tw.conflicts and tw.changes == 0:
        result = "up-to-date"  # the change is already there (or already undone)
    if dry_run:
        return _info(repo_name, operation, p, branch, result, None, tw.changes, tw, dry_run=True)
    if tw.conflicts:
        n = len(tw.conflicts)
        raise MergeConflicts(
            f"{operation} of {p.source[:12]} into {repo_name}@{branch}: {n} conflict{'s' if n > 1 else ''}, "
            "nothing written; resolve with --strategy or --ours/--theirs GLOB: "
            + threeway.describe(tw.conflicts),
            tw.conflicts,
        )
    if result == "up-to-date":
        return _info(repo_name, operation, p, branch, result, None, 0, tw)
    with ctx.store.writer() as w:
        tree = tw.apply(w, p.head_tree)
    commit_id = new_id()
    event = "merge" if operation == "merge" else "commit"
    judged = hooks.run_pre_hooks(ctx, repo_name, branch, f"pre-{event}", commit_id, tree, p.head_tree)
    try:
        info = _record(
            ctx,
            repo_name,
            branch,
            operation,
            p,
            tree,
            message,
            meta,
            second_parent,
            tw,
            force,
            commit_id,
            judged,
        )
    except _LostRace:
        return None
    if info.commit is not None:
        hooks.notify(ctx, repo_name, branch, f"post-{event}", info.commit.to_json())
    return info


class _LostRace(Exception):
    """Raised inside the write transaction to roll it back when the branch head moved."""


def _record(
    ctx: Context,
    repo_name: str,
    branch: str,
    operation: str,
    p: _Plan,
    tree: str,
    message: str,
    meta: dict[str, str],
    second_parent: str | None,
    tw: threeway.ThreeWay,
    force: bool,
    commit_id: str,
    judged: list[hooks.Outcome],
) -> MergeInfo:
    _, files, size = ctx.store.trees.totals(tree)
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        at = now()
        c = Commit(
            id=commit_id,
            repo_id=repo.id,
            parent_id=p.head,
            branch=branch,
            tree=tree,
            base_tree=p.head_tree,
            state="finished",
            origin="user",
            message=message,
            author=ctx.user,
            created_at=at,
            finished_at=at,
            size=size,
            file_count=files,
        )
        s.add(c)
        s.flush()
        if second_parent is not None:
            s.add(CommitParent(commit_id=c.id, position=1, parent_id=second_parent))
        record_metadata(s, c.id, meta)
        hooks.record(s, c.id, judged)
        why = f"{operation} commit: {message}"
        move: Move = "merge" if second_parent is not None else "commit"
        moved = set_if_equals(
            s, repo.id, branch, p.head, c.id, who=ctx.user, why=why, at=at, move=move, force=force
        )
        if not moved:
            raise _LostRace
        info = commit_info(s, repo, c)
    return _info(repo_name, operation, p, branch, "merged", info, tw.changes, tw)


def _info(
    repo: str,
    operation: str,
    p: _Plan,
    branch: str,
    result: str,
    commit: CommitInfo | None,
    changes: int,
    tw: threeway.ThreeWay | None = None,
    *,
    dry_run: bool = False,
) -> MergeInfo:
    return MergeInfo(
        repo,
        operation,
        p.source,
        branch,
        result,
        p.base,
        p.head,
        commit,
        changes,
        tw.conflicts if tw else (),
        tw.resolved if tw else (),
        dry_run,
    )
