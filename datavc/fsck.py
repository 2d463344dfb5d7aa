"""fsck: verify every reachable object and the metadata's integrity."""

from __future__ import annotations

from sqlalchemy import select

from datavc.context import Context
from datavc.db.models import Branch, Commit, Repo, Tag
from datavc.info import FsckInfo
from storage import errors as serr
from storage.cache import CachedBackend
from storage.store import ObjectStore


def fsck(ctx: Context) -> FsckInfo:
    """Check that every commit's parent, every branch head and tag exists in its repo, and
    that every object reachable from any commit exists and hashes to its id."""
    problems: list[str] = []
    roots: set[str] = set()
    commits = 0
    with ctx.db.read() as s:
        repo_names = {rid: name for rid, name in s.execute(select(Repo.id, Repo.name)).all()}
        where = {cid: rid for cid, rid in s.execute(select(Commit.id, Commit.repo_id)).all()}
        for cid, rid, parent, tree in s.execute(
            select(Commit.id, Commit.repo_id, Commit.parent_id, Commit.tree)
        ).all():
            commits += 1
            roots.add(tree)
            if parent is not None and where.get(parent) != rid:
                problems.append(
                    f"commit {cid} of {repo_names.get(rid)}: parent {parent} is missing or in another repo"
                )
        for rid, name, head in s.execute(select(Branch.repo_id, Branch.name, Branch.head_id)).all():
            if head is not None and where.get(head) != rid:
                problems.append(
                    f"branch {repo_names.get(rid)}@{name}: head {head} is missing or in another repo"
                )
        for rid, name, cid in s.execute(select(Tag.repo_id, Tag.name, Tag.commit_id)).all():
            if where.get(cid) != rid:
                problems.append(
                    f"tag {repo_names.get(rid)}@{name}: commit {cid} is missing or in another repo"
                )
        open_heads = s.execute(
            select(Branch.repo_id, Branch.name)
            .join(Commit, Commit.id == Branch.head_id)
            .where(Commit.state != "finished")
        ).all()
        for rid, name in open_heads:
            problems.append(f"branch {repo_names.get(rid)}@{name} points at an unfinished commit")
    corrupt: list[str] = []
    missing: list[str] = []
    seen: set[str] = set()
    checked = 0
    nbytes = 0
    store = ctx.raw_store  # storage errors are findings here, not failures

    def note(bad: list[str], oid: str) -> None:
        if oid not in corrupt and oid not in missing:
            bad.append(oid)

    for root in sorted(roots):
        try:
            for oid, is_tree in store.trees.iter_objects(root, seen):
                if not is_tree:
                    if oid in seen:
                        continue
                    seen.add(oid)
                try:
                    nbytes += len(_read_stored(store, oid))
                    checked += 1
                except serr.CorruptObject:
                    note(corrupt, oid)
                except serr.ObjectNotFound:
                    note(missing, oid)
        except serr.CorruptObject as err:
            note(corrupt, err.oid)
        except serr.ObjectNotFound as err:
            note(missing, err.oid)
    return FsckInfo(checked, nbytes, commits, tuple(corrupt), tuple(missing), tuple(problems))


def _read_stored(store: ObjectStore, oid: str) -> bytes:
    """``oid``'s bytes as stored, verified: not the in-memory copy of an earlier read, and for a
    remote store not the local read-through cache (both were verified once, long ago perhaps).

    Raises:
        CorruptObject, ObjectNotFound
    """
    backend = store.backend
    source = backend.remote if isinstance(backend, CachedBackend) else backend
    data = source.get(oid)
    actual = store.algorithm.digest(data)
    if actual != oid:
        raise serr.CorruptObject(oid, actual, source.url)
    return data
