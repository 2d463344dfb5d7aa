"""fsck: verify every reachable object, every tree's content and the metadata's integrity."""

from __future__ import annotations

from sqlalchemy import select

from datavc.context import Context
from datavc.db.models import Branch, Commit, Repo, Tag, TreePage
from datavc.info import FsckInfo
from storage import errors as serr
from storage import treepack
from storage.cache import CachedBackend
from storage.index import iter_refs
from storage.model import DIR, MAX_DEPTH, MAX_PATH_BYTES
from storage.store import ObjectStore
from storage.tree import Child, Page, decode_page


def fsck(ctx: Context) -> FsckInfo:
    """Check that every commit's parent, every branch head and tag exists in its repo, that
    every object reachable from any commit exists and hashes to its id, and that every tree
    holds only valid names, sizes and references within the path limits."""
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
        packed: dict[str, list[str]] = {}
        for page, pack in s.execute(select(TreePage.page, TreePage.pack)).all():
            packed.setdefault(pack, []).append(page)
    walk = _TreeCheck(ctx.raw_store)  # storage errors are findings here, not failures
    for root in sorted(roots):
        walk.directory(root, 0, 0)
    for pack, pages in sorted(packed.items()):
        walk.tree_pack(pack, pages)
    return FsckInfo(
        walk.checked,
        walk.nbytes,
        commits,
        tuple(walk.corrupt),
        tuple(walk.missing),
        tuple(problems),
        tuple(walk.bad_trees),
    )


class _TreeCheck:
    """Reads every object the commits use once, straight from the backend, and checks the trees.

    A tree page must decode (names, sizes, ids: :func:`storage.tree.check_page`) and every
    path below a root must stay within the limits (:data:`MAX_PATH_BYTES`, :data:`MAX_DEPTH`).
    Shared subtrees are checked once, and again only when reached by a longer or deeper path.
    An explicit stack, so a hostile tree thousands of levels deep cannot exhaust recursion.
    A bad page is reported and not descended into; the rest of the store is still checked.
    """

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.checked = 0
        self.nbytes = 0
        self.corrupt: list[str] = []
        self.missing: list[str] = []
        self.bad_trees: list[str] = []
        self._bad: set[str] = set()
        self._verified: set[str] = set()  # objects read and hashed
        self._reach: dict[str, tuple[int, int]] = {}  # directory id -> (deepest bytes, depth) checked

    def directory(self, oid: str, nbytes: int, depth: int) -> None:
        stack = [(oid, nbytes, depth)]
        while stack:
            d, nb, dp = stack.pop()
            seen = self._reach.get(d)
            if seen is not None and seen[0] >= nb and seen[1] >= dp:
                continue
            self._reach[d] = (max(nb, seen[0] if seen else 0), max(dp, seen[1] if seen else 0))
            pages = [d]
            while pages:
                page_oid = pages.pop()
                page = self._page(page_oid)
                if page is None:
                    continue
                for it in page.items:
                    if isinstance(it, Child):
                        pages.append(it.oid)
                        continue
                    size = nb + len(it.name.encode("utf-8"))
                    if size > MAX_PATH_BYTES or dp + 1 > MAX_DEPTH:
                        what = f"{size} bytes" if size > MAX_PATH_BYTES else f"{dp + 1} levels"
                        self._bad_tree(serr.MalformedTree(page_oid, f"entry {it.name!r} lies {what} deep"))
                    elif it.kind == DIR:
                        stack.append((it.hash, size + 1, dp + 1))
                    elif it.index:
                        self._indexed(it.index, it.size)
                    else:
                        for r in it.refs:
                            self._object(r.oid)

    def _indexed(self, root: str, size: int) -> None:
        """Verify a large file's index pages (each read from the backend once) and its data objects."""
        if root in self._verified:
            return  # the same content (same index) was checked before
        try:
            for r in iter_refs(self._index_page, root, size):
                self._object(r.oid)
        except serr.MalformedTree as err:
            self._bad_tree(err)
        except _Unreadable:
            pass  # noted as missing or corrupt by _object

    def _index_page(self, oid: str) -> bytes:
        if oid in self._bad:
            raise _Unreadable(oid)
        if oid in self._verified:  # a page shared with a file checked before
            try:
                return self.store.get_object(oid)
            except serr.StorageError:
                raise _Unreadable(oid) from None
        data = self._object(oid)
        if data is None:
            raise _Unreadable(oid)
        return data

    def _page(self, oid: str) -> Page | None:
        """A tree page, decoded and checked (None when it is missing, corrupt or malformed)."""
        if oid in self._bad:
            return None
        if oid in self._verified:  # a directory reached again by a deeper path: its paths grow
            try:
                return self.store.trees.load(oid)
            except serr.StorageError:
                return None  # gone since it was checked: nothing more to learn from it
        data = self._object(oid)
        if data is None:
            return None
        try:
            return decode_page(data, oid)
        except serr.MalformedTree as err:
            self._bad_tree(err)
            return None

    def tree_pack(self, pack: str, pages: list[str]) -> None:
        """Check a tree pack (datum output trees, :mod:`datavc.tree_pages`): it is intact,
        holds the pages recorded for it, and each of them is a valid tree page."""
        data = self._object(pack)
        if data is None:
            return
        try:
            where = treepack.index(data, self.store.algorithm.digest, pack)
            for page in pages:
                at = where.get(page)
                if at is None:
                    raise serr.MalformedTree(pack, f"a tree pack without page {page}, recorded in it")
                decode_page(data[at[0] : at[0] + at[1]], page)
        except serr.MalformedTree as err:
            self._bad_tree(err)

    def _object(self, oid: str) -> bytes | None:
        """The verified bytes of ``oid`` (None when missing or corrupt, which is noted)."""
        if oid in self._verified:
            return None  # checked before
        self._verified.add(oid)
        try:
            data = _read_stored(self.store, oid)
        except serr.CorruptObject:
            self._bad.add(oid)
            self.corrupt.append(oid)
            return None
        except (serr.ObjectNotFound, serr.InvalidInput):
            self._bad.add(oid)
            self.missing.append(oid)
            return None
        self.checked += 1
        self.nbytes += len(data)
        return data

    def _bad_tree(self, err: serr.MalformedTree) -> None:
        if err.oid not in self._bad:
            self._bad.add(err.oid)
            self.bad_trees.append(str(err))


class _Unreadable(Exception):
    """An index page that is missing or corrupt (already noted): stop checking that file."""


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
