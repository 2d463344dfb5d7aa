"""Commits: start, edit (path changes), finish with compare-and-swap, abort, inspect, log.

A commit is *open* while it is written to; its ``tree`` moves by compare-and-swap, so
several writers can add to one open commit. Finishing moves the branch head from the
commit's parent to the commit, again by compare-and-swap. A writer that loses that race
(someone else finished a commit on the branch meanwhile) re-applies its own path-level
changes, ``diff(base_tree, tree)``, onto the new head and tries again: no update is lost
and history stays linear. No database transaction ever waits on the object store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from datavc import commit_metadata, hooks
from datavc.context import Context, new_id, now
from datavc.db.cas import cas, retrying
from datavc.db.models import Branch, Commit, CommitMetadata, CommitOrigin, CommitParent, Provenance, Repo
from datavc.errors import BranchMoved, BranchNotFound, CommitFinished, CommitNotFound, InvalidArgument
from datavc.graph import parent_graph, topo_order
from datavc.heads import set_if_equals
from datavc.info import CommitInfo, OpenCommitInfo
from datavc.open_commits import check_live, live
from datavc.refs import get_branch, get_commit, resolve
from datavc.repos import get_repo
from datavc.settings import open_commit_max_age
from datavc.triggers import start_commit_set
from storage.model import Entry
from storage.writer import Writer

#: Path changes are applied in batches of this many, so memory stays bounded.
BATCH = 50_000

TreeEdit = Callable[[Writer, str], str]


def commit_info(s: Session, repo: Repo, c: Commit) -> CommitInfo:
    prov = tuple(
        f"{r}@{cid}"
        for r, cid in s.execute(
            select(Repo.name, Provenance.input_commit_id)
            .join(Commit, Commit.id == Provenance.input_commit_id)
            .join(Repo, Repo.id == Commit.repo_id)
            .where(Provenance.commit_id == c.id)
            .order_by(Repo.name)
        )
    )
    return CommitInfo(
        repo.name,
        c.id,
        c.parent_id,
        c.branch,
        c.state,
        c.origin,
        c.message,
        c.author,
        c.created_at,
        c.finished_at,
        c.size,
        c.file_count,
        c.tree,
        prov,
        c.job_id,
        (c.parent_id, *extra_parents(s, c.id)) if c.parent_id else (),
        load_metadata(s, c.id),
        c.commit_set_id,
    )


def extra_parents(s: Session, commit_id: str) -> tuple[str, ...]:
    """A merge commit's parents after the first, in order (empty for any other commit)."""
    rows = s.scalars(
        select(CommitParent.parent_id)
        .where(CommitParent.commit_id == commit_id)
        .order_by(CommitParent.position)
    )
    return tuple(rows)


def load_metadata(s: Session, commit_id: str) -> dict[str, str]:
    """A commit's metadata, by key."""
    rows = s.execute(
        select(CommitMetadata.key, CommitMetadata.value)
        .where(CommitMetadata.commit_id == commit_id)
        .order_by(CommitMetadata.key)
    )
    return {k: v for k, v in rows}


def record_metadata(s: Session, commit_id: str, meta: Mapping[str, str] | None) -> None:
    """Add checked ``meta`` to a commit in the caller's transaction; a key given again replaces it."""
    for key, value in (meta or {}).items():
        row = s.get(CommitMetadata, (commit_id, key))
        if row is None:
            s.add(CommitMetadata(commit_id=commit_id, key=key, value=value))
        else:
            row.value = value
    s.flush()


def open_commit(s: Session, repo: Repo, commit_id: str) -> Commit:
    """The open commit ``commit_id`` (a full id or a unique prefix).

    Raises:
        CommitNotFound; CommitFinished: it is finished and can no longer change.
    """
    c = resolve(s, repo, commit_id)
    if c.state != "open":
        raise CommitFinished(
            repo.name, c.id, f"commit {c.id} is finished; start a new commit to change {repo.name!r}"
        )
    return c


def start_commit(
    ctx: Context,
    repo_name: str,
    branch: str,
    *,
    message: str = "",
    origin: CommitOrigin = "user",
    author: str | None = None,
    job_id: str | None = None,
    created_at: datetime | None = None,
    commit_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    commit_set: str | None = None,
) -> CommitInfo:
    """Open a new commit on ``branch`` whose parent is the branch's head.

    ``metadata``: ``key=value`` pairs recorded with it (more may be added when it finishes).

    ``created_at``: when the writer began uploading objects for it, if earlier than now
    (the open-commit max age counts from there: see :mod:`datavc.open_commits`).
    ``commit_id``: the new commit's id, when the caller promised one (a pipeline's output
    commit takes its job's id, as ``PACH_OUTPUT_COMMIT_ID`` told the transform); else a new one.
    ``commit_set``: the set a pipeline's output commit continues (None: finishing the
    commit starts a new set with the commit's id).
    """
    empty = ctx.empty_tree
    meta = commit_metadata.check_metadata(metadata)
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        br = get_branch(s, repo, branch)
        parent = get_commit(s, repo, br.head_id) if br.head_id else None
        base = parent.tree if parent else empty
        c = Commit(
            id=commit_id or new_id(),
            repo_id=repo.id,
            parent_id=br.head_id,
            branch=branch,
            tree=base,
            base_tree=base,
            state="open",
            origin=origin,
            message=message,
            author=author or ctx.user,
            created_at=min(created_at, now()) if created_at is not None else now(),
            finished_at=None,
            job_id=job_id,
            commit_set_id=commit_set,
            size=parent.size if parent else 0,
            file_count=parent.file_count if parent else 0,
        )
        s.add(c)
        s.flush()
        record_metadata(s, c.id, meta)
        return commit_info(s, repo, c)


def edit_commit(ctx: Context, repo_name: str, commit_id: str, edit: TreeEdit) -> str:
    """Apply ``edit(writer, tree) -> new tree`` to an open commit; retried if another writer got there first.

    Returns the commit's new tree id.

    Raises:
        Conflict: other writers kept changing the commit (see :func:`datavc.db.cas.retrying`).
    """

    def attempt() -> str | None:
        with ctx.db.read() as s:
            repo = get_repo(s, repo_name)
            c = open_commit(s, repo, commit_id)
            check_live(s, c)
            cid, old = c.id, c.tree
        with ctx.store.writer() as w:
            new = edit(w, old)
        if new == old:
            return old
        with ctx.db.write() as s:
            stmt = update(Commit).where(Commit.id == cid, Commit.tree == old, Commit.state == "open", live(s))
            # Publishing new objects only while the commit is live is what makes a gc grace
            # of open_commit_max_age safe (see datavc.open_commits).
            return new if cas(s, stmt.values(tree=new)) else None

    return retrying(attempt, f"editing commit {commit_id[:12]} of {repo_name!r}")


def apply_changes(w: Writer, tree: str, changes: Iterator[tuple[str, Entry | None]]) -> str:
    """Apply streamed path changes in bounded batches."""
    batch: dict[str, Entry | None] = {}
    for path, entry in changes:
        batch[path] = entry
        if len(batch) >= BATCH:
            tree = w.update_tree(tree, batch)
            batch = {}
    return w.update_tree(tree, batch) if batch else tree


Mode = Literal["rebase", "exact", "strict"]


@dataclass(frozen=True)
class _Finishing:
    """What finishing reads about an open commit and its branch, outside any write transaction."""

    repo_id: int
    branch: str
    commit: str
    parent: str | None
    tree: str
    base: str
    head: str | None
    head_tree: str


def finish_commit(
    ctx: Context,
    repo_name: str,
    commit_id: str,
    *,
    message: str | None = None,
    mode: Mode = "rebase",
    provenance: list[str] | None = None,
    on_finish: Callable[[Session, str], None] | None = None,
    force: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> CommitInfo:
    """Finish an open commit: the branch head moves to it by compare-and-swap.

    If the branch moved since the commit started, ``rebase`` re-applies the commit's own
    changes onto the new head; ``exact`` keeps the commit's tree as it is (rollback);
    ``strict`` refuses with :class:`BranchMoved`.
    ``provenance`` lists input commit ids recorded in the same transaction, and
    ``on_finish(session, commit_id)`` runs in it too. Jobs of the pipelines reading the
    branch are created in that same transaction.

    Raises:
        BranchMoved: ``strict`` and the branch moved.
        BranchProtected: the branch moves only by merge (and no ``force``).
        HookRefused: a pre-commit hook refused the commit (it stays open).
        Conflict: other writers kept winning the race (bounded retries).
    """

    meta = commit_metadata.check_metadata(metadata)
    if ctx.db.dialect == "postgresql" or ctx.db.queues_writers:
        queued = _finish_queued(
            ctx,
            repo_name,
            commit_id,
            message=message,
            mode=mode,
            provenance=provenance or [],
            on_finish=on_finish,
            force=force,
            meta=meta,
        )
        if queued.branch is not None:
            hooks.notify(ctx, repo_name, queued.branch, "post-commit", queued.to_json())
        return queued

    def attempt() -> CommitInfo | None:
        f = _read_finishing(ctx, repo_name, commit_id)
        if f.head != f.parent:
            _rebase(ctx, repo_name, f, mode)
            f = _read_finishing(ctx, repo_name, commit_id)
            if f.head != f.parent:
                return None  # moved again (or another writer changed the commit) meanwhile
        # Pre-commit hooks judge exactly the tree that lands (refusal: HookRefused, nothing lands).
        judged = hooks.run_pre_hooks(ctx, repo_name, f.branch, "pre-commit", f.commit, f.tree, f.head_tree)

        def finishing(s: Session, cid: str) -> None:
            hooks.record(s, cid, judged)
            if on_finish is not None:
                on_finish(s, cid)

        return _fast_forward(ctx, repo_name, f, message, provenance or [], finishing, force, meta)

    info = retrying(attempt, f"finishing commit {commit_id[:12]} of {repo_name!r}")
    if info.branch is not None:
        hooks.notify(ctx, repo_name, info.branch, "post-commit", info.to_json())
    return info


def _finish_queued(
    ctx: Context,
    repo_name: str,
    commit_id: str,
    *,
    message: str | None,
    mode: Mode,
    provenance: list[str],
    on_finish: Callable[[Session, str], None] | None,
    force: bool,
    meta: dict[str, str],
) -> CommitInfo:
    """:func:`finish_commit` under the branch row's lock (PostgreSQL).

    The optimistic path reads the head, rebases outside any transaction and moves the head
    by compare-and-swap; with many writers on one branch most of them lose, rebase again
    and back off, so eight concurrent writers were slower than the same puts in sequence.
    Here a finishing writer locks the branch row (``SELECT ... FOR UPDATE``) and the commit
    row, rebases once onto the head it now holds and moves the head in the same
    transaction: writers to one branch form a queue and every rebase is done once; writers
    to different branches lock different rows and run in parallel. On SQLite the write
    transaction locks the whole database, and the threads of one process queue for it
    (:attr:`~datavc.db.session.Database.queues_writers`): there too a queue that rebases
    once beat the optimistic path, whose losers rebased again and backed off (8 writers to
    one branch: 0.3-0.7x the same puts in sequence, against 0.8-2.5x queued, at load 9).

    Raises:
        BranchMoved: ``strict`` and the branch moved; CommitFinished, CommitNotFound,
        CommitExpired, BranchNotFound, InvalidArgument, BranchProtected, HookRefused as
        :func:`finish_commit`. Pre-commit hooks run under the lock, on exactly the tree that
        lands; a refusal rolls the transaction back and the commit stays open.
    """
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        c = open_commit(s, repo, commit_id)
        check_live(s, c)
        branch = c.branch
        if branch is None:
            raise InvalidArgument(f"commit {c.id} is on no branch")
        br = s.scalars(
            select(Branch).where(Branch.repo_id == repo.id, Branch.name == branch).with_for_update()
        ).one_or_none()
        if br is None:
            raise BranchNotFound(repo.name, branch)
        # Lock the commit too, then read it again: an edit may have landed before the lock.
        s.refresh(c, with_for_update=True)
        c = open_commit(s, repo, commit_id)
        if br.head_id != c.parent_id:
            if mode == "strict":
                raise BranchMoved(
                    repo_name, branch, f"{repo_name}@{branch} moved since commit {c.id[:12]} started"
                )
            head_tree = get_commit(s, repo, br.head_id).tree if br.head_id else ctx.empty_tree
            if mode == "exact":
                new_tree = c.tree
            else:
                with ctx.store.writer() as w:
                    changes = ((d.path, d.new) for d in ctx.store.diff(c.base_tree, c.tree))
                    new_tree = apply_changes(w, head_tree, changes)
            c.parent_id, c.base_tree, c.tree = br.head_id, head_tree, new_tree
        head_tree = get_commit(s, repo, br.head_id).tree if br.head_id else ctx.empty_tree
        judged = hooks.run_pre_hooks(ctx, repo_name, branch, "pre-commit", c.id, c.tree, head_tree)
        _, files, size = ctx.store.trees.totals(c.tree)
        c.state, c.finished_at, c.size, c.file_count = "finished", now(), size, files
        if message is not None:
            c.message = message
        s.flush()

        def finishing(s: Session, cid: str) -> None:
            hooks.record(s, cid, judged)
            if on_finish is not None:
                on_finish(s, cid)

        moved = _land(ctx, s, repo_name, repo.id, branch, c.parent_id, c, force, meta, provenance, finishing)
        assert moved, "the branch row is locked: its head cannot have moved"
        s.flush()
        return commit_info(s, repo, c)


def _read_finishing(ctx: Context, repo_name: str, commit_id: str) -> _Finishing:
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        c = open_commit(s, repo, commit_id)
        check_live(s, c)
        if c.branch is None:
            raise InvalidArgument(f"commit {c.id} is on no branch")
        br = get_branch(s, repo, c.branch)
        head = get_commit(s, repo, br.head_id) if br.head_id else None
        return _Finishing(
            repo.id,
            c.branch,
            c.id,
            c.parent_id,
            c.tree,
            c.base_tree,
            head.id if head else None,
            head.tree if head else ctx.empty_tree,
        )


def _fast_forward(
    ctx: Context,
    repo_name: str,
    f: _Finishing,
    message: str | None,
    provenance: list[str],
    on_finish: Callable[[Session, str], None] | None,
    force: bool,
    meta: dict[str, str],
) -> CommitInfo | None:
    """The branch is still at the commit's parent: mark the commit finished and move the head to it.

    Returns None (nothing written) if another writer finished a commit on the branch or
    changed this commit in the meantime.
    """
    _, files, size = ctx.store.trees.totals(f.tree)
    try:
        with ctx.db.write() as s:
            values: dict[str, object] = {"state": "finished", "finished_at": now(), "size": size}
            values["file_count"] = files
            if message is not None:
                values["message"] = message
            finishing = update(Commit).where(
                Commit.id == f.commit, Commit.state == "open", Commit.tree == f.tree, live(s)
            )
            if not cas(s, finishing.values(**values)):
                return None
            final = s.get(Commit, f.commit)
            assert final is not None
            landed = _land(
                ctx, s, repo_name, f.repo_id, f.branch, f.parent, final, force, meta, provenance, on_finish
            )
            if not landed:
                raise _LostRace  # roll back: the commit stays open and the next attempt rebases it
            s.flush()
            return commit_info(s, get_repo(s, repo_name), final)
    except _LostRace:
        return None


def _land(
    ctx: Context,
    s: Session,
    repo_name: str,
    repo_id: int,
    branch: str,
    parent: str | None,
    c: Commit,
    force: bool,
    meta: dict[str, str],
    provenance: list[str],
    on_finish: Callable[[Session, str], None] | None,
) -> bool:
    """Move ``branch`` from ``parent`` to the finished commit ``c``, with everything that lands
    with it (commit set, metadata, provenance, ``on_finish``); False if the head moved."""
    if c.commit_set_id is None:
        # A user commit (or rollback, or cron tick) starts a commit set named after it.
        c.commit_set_id = start_commit_set(s, c.id, f"{c.origin} commit {repo_name}@{branch}", ctx.user)
    why = f"{c.origin} commit: {c.message}".rstrip(": ")
    at, cset = c.finished_at, c.commit_set_id
    moved = set_if_equals(
        s, repo_id, branch, parent, c.id, who=ctx.user, why=why, at=at, force=force, commit_set=cset
    )
    if not moved:
        return False
    record_metadata(s, c.id, meta)
    for input_id in provenance:
        s.add(Provenance(commit_id=c.id, input_commit_id=input_id, kind="input"))
    if on_finish is not None:
        on_finish(s, c.id)
    return True


class _LostRace(Exception):
    """Raised inside a write transaction to roll it back after a compare-and-swap lost."""


def _rebase(ctx: Context, repo_name: str, f: _Finishing, mode: Mode) -> None:
    """The branch moved: carry this commit's changes over to the new head (or refuse, or keep the tree)."""
    if mode == "strict":
        raise BranchMoved(
            repo_name, f.branch, f"{repo_name}@{f.branch} moved since commit {f.commit[:12]} started"
        )
    if mode == "exact":
        new_tree = f.tree
    else:
        with ctx.store.writer() as w:
            changes = ((d.path, d.new) for d in ctx.store.diff(f.base, f.tree))
            new_tree = apply_changes(w, f.head_tree, changes)
    with ctx.db.write() as s:
        # A lost race here (another writer edited the commit) is seen by the next attempt.
        s.execute(
            update(Commit)
            .where(Commit.id == f.commit, Commit.state == "open", Commit.tree == f.tree, live(s))
            .values(parent_id=f.head, base_tree=f.head_tree, tree=new_tree)
        )


def abort_commit(ctx: Context, repo_name: str, commit_id: str) -> None:
    """Drop an open commit; nothing it wrote becomes visible."""
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        c = open_commit(s, repo, commit_id)
        s.delete(c)


def inspect_commit(ctx: Context, repo_name: str, ref: str) -> CommitInfo:
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        return commit_info(s, repo, resolve(s, repo, ref))


def log(
    ctx: Context,
    repo_name: str,
    ref: str,
    limit: int | None = None,
    *,
    where: Mapping[str, str] | None = None,
    all_parents: bool = False,
) -> Iterator[CommitInfo]:
    """History from ``ref`` back through first parents, newest first, streamed.

    ``where``: only commits whose metadata has every ``key=value`` (``limit`` counts those).
    ``all_parents``: every ancestor through every parent (merged branches too), each after
    all its children (the order ``log --graph`` draws).
    """
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        c: Commit | None = resolve(s, repo, ref)
    order = topo_order(parent_graph(ctx, repo_name), c.id) if all_parents and c is not None else None
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        count = 0
        while c is not None and (limit is None or count < limit):
            info = commit_info(s, repo, c)
            if not where or commit_metadata.matches(info.metadata, where):
                yield info
                count += 1
            if order is not None:
                c = next((get_commit(s, repo, n) for n in order if n != c.id), None)
            else:
                c = get_commit(s, repo, c.parent_id) if c.parent_id else None


def list_open_commits(ctx: Context, repo_name: str) -> list[CommitInfo]:
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        rows = s.scalars(
            select(Commit)
            .where(Commit.repo_id == repo.id, Commit.state == "open")
            .order_by(Commit.created_at)
        )
        return [commit_info(s, repo, c) for c in rows]


def list_open_commits_expiry(ctx: Context, repo_name: str | None = None) -> list[OpenCommitInfo]:
    """Every open commit (of one repo, or of all), oldest first, with when it expires."""
    with ctx.db.read() as s:
        max_age = open_commit_max_age(s)
        q = select(Repo, Commit).join(Repo, Repo.id == Commit.repo_id).where(Commit.state == "open")
        if repo_name is not None:
            q = q.where(Repo.id == get_repo(s, repo_name).id)
        t = now()
        out = []
        for repo, c in s.execute(q.order_by(Commit.created_at, Commit.id)).all():
            expires = c.created_at + max_age
            out.append(OpenCommitInfo(commit_info(s, repo, c), expires, expires <= t))
        return out


def one_shot(
    ctx: Context,
    repo_name: str,
    branch: str,
    edit: TreeEdit,
    *,
    message: str = "",
    origin: CommitOrigin = "user",
    mode: Mode = "rebase",
    started_at: datetime | None = None,
    force: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> CommitInfo:
    """Start a commit, apply ``edit``, finish it; abort it if anything fails.

    ``started_at``: when the caller began uploading the objects ``edit`` uses.
    """
    c = start_commit(ctx, repo_name, branch, message=message, origin=origin, created_at=started_at)
    try:
        edit_commit(ctx, repo_name, c.id, edit)
        return finish_commit(ctx, repo_name, c.id, mode=mode, force=force, metadata=metadata)
    except BaseException:
        try:
            abort_commit(ctx, repo_name, c.id)
        except (CommitNotFound, CommitFinished):
            pass
        raise
