"""Commits: start, edit (path changes), finish with compare-and-swap, abort, inspect, log.

A commit is *open* while it is written to; its ``tree`` moves by compare-and-swap, so
several writers can add to one open commit. Finishing moves the branch head from the
commit's parent to the commit, again by compare-and-swap. A writer that loses that race
(someone else finished a commit on the branch meanwhile) re-applies its own path-level
changes, ``diff(base_tree, tree)``, onto the new head and tries again: no update is lost
and history stays linear. No database transaction ever waits on the object store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from datavc.context import Context, new_id, now, storage_errors
from datavc.db.models import Branch, BranchHistory, Commit, Provenance, Repo
from datavc.errors import BranchMoved, CommitFinished, CommitNotFound, InvalidArgument
from datavc.info import CommitInfo
from datavc.open_commits import check_live, live
from datavc.pipelines.triggers import on_commit_finished
from datavc.refs import get_branch, get_commit, resolve
from datavc.repos import get_repo
from storage.model import Entry
from storage.writer import Writer

#: Path changes are applied in batches of this many, so memory stays bounded.
BATCH = 50_000

TreeEdit = Callable[[Writer, str], str]


class _Retry(Exception):
    """A compare-and-swap lost its race: read again and retry."""


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
    )


def head_is(expected: str | None):  # type: ignore[no-untyped-def]
    """SQL condition: the branch head equals ``expected`` (NULL-safe)."""
    return Branch.head_id.is_(None) if expected is None else Branch.head_id == expected


def open_commit(s: Session, repo: Repo, commit_id: str) -> Commit:
    """The open commit ``commit_id`` (a full id or a unique prefix).

    Raises:
        CommitNotFound; CommitFinished: it is finished and can no longer change.
    """
    c = resolve(s, repo, commit_id)
    if c.state != "open":
        raise CommitFinished(f"commit {c.id} is finished; start a new commit to change {repo.name!r}")
    return c


def start_commit(
    ctx: Context,
    repo_name: str,
    branch: str,
    *,
    message: str = "",
    origin: Literal["user", "pipeline", "rollback"] = "user",
    author: str | None = None,
    job_id: str | None = None,
    created_at: datetime | None = None,
) -> CommitInfo:
    """Open a new commit on ``branch`` whose parent is the branch's head.

    ``created_at``: when the writer began uploading objects for it, if earlier than now
    (the open-commit max age counts from there: see :mod:`datavc.open_commits`).
    """
    empty = ctx.empty_tree
    with ctx.db.write() as s:
        repo = get_repo(s, repo_name)
        br = get_branch(s, repo, branch)
        parent = get_commit(s, repo, br.head_id) if br.head_id else None
        base = parent.tree if parent else empty
        c = Commit(
            id=new_id(),
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
            size=parent.size if parent else 0,
            file_count=parent.file_count if parent else 0,
        )
        s.add(c)
        s.flush()
        return commit_info(s, repo, c)


def edit_commit(ctx: Context, repo_name: str, commit_id: str, edit: TreeEdit) -> str:
    """Apply ``edit(writer, tree) -> new tree`` to an open commit; retried if another writer got there first.

    Returns the commit's new tree id.
    """
    while True:
        with ctx.db.read() as s:
            repo = get_repo(s, repo_name)
            c = open_commit(s, repo, commit_id)
            check_live(s, c)
            cid, old = c.id, c.tree
        with storage_errors(), ctx.store.writer() as w:
            new = edit(w, old)
        if new == old:
            return old
        with ctx.db.write() as s:
            # Publishing new objects only while the commit is live is what makes a gc grace
            # of open_commit_max_age safe (see datavc.open_commits).
            res = s.execute(
                update(Commit)
                .where(Commit.id == cid, Commit.tree == old, Commit.state == "open", live(s))
                .values(tree=new)
            )
            if res.rowcount == 1:  # type: ignore[attr-defined]
                return new


def apply_changes(w: Writer, tree: str, changes: Iterator[tuple[str, Entry | None]]) -> str:
    """Apply streamed path changes in bounded batches."""
    batch: dict[str, Entry | None] = {}
    for path, entry in changes:
        batch[path] = entry
        if len(batch) >= BATCH:
            tree = w.update_tree(tree, batch)
            batch = {}
    return w.update_tree(tree, batch) if batch else tree


def finish_commit(
    ctx: Context,
    repo_name: str,
    commit_id: str,
    *,
    message: str | None = None,
    mode: Literal["rebase", "exact", "strict"] = "rebase",
    provenance: list[str] | None = None,
    on_finish: Callable[[Session, str], None] | None = None,
) -> CommitInfo:
    """Finish an open commit: the branch head moves to it by compare-and-swap.

    If the branch moved since the commit started, ``rebase`` re-applies the commit's own
    changes onto the new head; ``exact`` keeps the commit's tree as it is (rollback);
    ``strict`` refuses with :class:`BranchMoved`.
    ``provenance`` lists input commit ids recorded in the same transaction, and
    ``on_finish(session, commit_id)`` runs in it too. Jobs of the pipelines reading the
    branch are created in that same transaction.
    """
    while True:
        with ctx.db.read() as s:
            repo = get_repo(s, repo_name)
            c = open_commit(s, repo, commit_id)
            check_live(s, c)
            if c.branch is None:
                raise InvalidArgument(f"commit {c.id} is on no branch")
            br = get_branch(s, repo, c.branch)
            cid, parent, tree, base = c.id, c.parent_id, c.tree, c.base_tree
            br_id, repo_id, branch = br.id, repo.id, c.branch
            head = get_commit(s, repo, br.head_id) if br.head_id else None
            head_id, head_tree = (head.id, head.tree) if head else (None, ctx.empty_tree)
        if head_id == parent:
            with storage_errors():
                _, files, size = ctx.store.trees.totals(tree)
            try:
                with ctx.db.write() as s:
                    moved = s.execute(
                        update(Branch).where(Branch.id == br_id, head_is(parent)).values(head_id=cid)
                    )
                    if moved.rowcount != 1:  # type: ignore[attr-defined]
                        raise _Retry
                    values: dict[str, object] = {
                        "state": "finished",
                        "finished_at": now(),
                        "size": size,
                        "file_count": files,
                    }
                    if message is not None:
                        values["message"] = message
                    done = s.execute(
                        update(Commit)
                        .where(Commit.id == cid, Commit.state == "open", Commit.tree == tree, live(s))
                        .values(**values)
                    )
                    if done.rowcount != 1:  # type: ignore[attr-defined]
                        raise _Retry
                    for input_id in provenance or []:
                        s.add(Provenance(commit_id=cid, input_commit_id=input_id, kind="input"))
                    if on_finish is not None:
                        on_finish(s, cid)
                    on_commit_finished(s, repo_id, branch, cid)
                    final = s.get(Commit, cid)
                    assert final is not None
                    s.add(
                        BranchHistory(
                            repo_id=repo_id,
                            branch=branch,
                            old_head=parent,
                            new_head=cid,
                            who=ctx.user,
                            why=f"{final.origin} commit: {final.message}".rstrip(": "),
                            at=final.finished_at,
                        )
                    )
                    s.flush()
                    return commit_info(s, get_repo(s, repo_name), final)
            except _Retry:
                continue
        # The branch moved: carry this commit's changes over to the new head.
        if mode == "strict":
            raise BranchMoved(f"{repo_name}@{branch} moved since commit {cid[:12]} started")
        if mode == "exact":
            new_tree = tree
        else:
            with storage_errors(), ctx.store.writer() as w:
                changes = ((d.path, d.new) for d in ctx.store.diff(base, tree))
                new_tree = apply_changes(w, head_tree, changes)
        with ctx.db.write() as s:
            s.execute(
                update(Commit)
                .where(Commit.id == cid, Commit.state == "open", Commit.tree == tree, live(s))
                .values(parent_id=head_id, base_tree=head_tree, tree=new_tree)
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


def log(ctx: Context, repo_name: str, ref: str, limit: int | None = None) -> Iterator[CommitInfo]:
    """History from ``ref`` back through first parents, newest first, streamed in pages."""
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        c: Commit | None = resolve(s, repo, ref)
        count = 0
        while c is not None and (limit is None or count < limit):
            yield commit_info(s, repo, c)
            count += 1
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


def one_shot(
    ctx: Context,
    repo_name: str,
    branch: str,
    edit: TreeEdit,
    *,
    message: str = "",
    origin: Literal["user", "pipeline", "rollback"] = "user",
    mode: Literal["rebase", "exact", "strict"] = "rebase",
    started_at: datetime | None = None,
) -> CommitInfo:
    """Start a commit, apply ``edit``, finish it; abort it if anything fails.

    ``started_at``: when the caller began uploading the objects ``edit`` uses.
    """
    c = start_commit(ctx, repo_name, branch, message=message, origin=origin, created_at=started_at)
    try:
        edit_commit(ctx, repo_name, c.id, edit)
        return finish_commit(ctx, repo_name, c.id, mode=mode)
    except BaseException:
        try:
            abort_commit(ctx, repo_name, c.id)
        except (CommitNotFound, CommitFinished):
            pass
        raise
