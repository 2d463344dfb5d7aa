"""Working copies: ``checkout`` a commit into a directory, ``status`` it, ``commit`` its changes back.

A checkout keeps ``.datavc-checkout/`` in its directory: ``state.json`` (store, repo,
branch, commit, tree) and ``index.sqlite`` (size, mtime and content hash of every file
as checked out). ``status`` stats every file and hashes only those whose size or mtime
changed; checking out another commit into an existing checkout rewrites only the files
that differ between the two commits. The index is keyed in tree order, so status is a
streaming merge of the directory walk and the index.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from datavc.commits import one_shot
from datavc.context import Context, storage_errors
from datavc.errors import BranchMoved, Conflict, InvalidArgument, NotFound
from datavc.files import snapshot
from datavc.info import CheckoutInfo, CommitInfo, DiffInfo, StatusInfo
from datavc.refs import get_branch
from datavc.repos import get_repo
from storage.fileio import atomic_write
from storage.model import Entry, check_name
from storage.tree import tree_order

META = ".datavc-checkout"
_HASH_BLOCK = 8 * 1024 * 1024


def _key(path: str) -> bytes:
    """Sort key in tree order: components compared one by one."""
    return path.encode("utf-8").replace(b"/", b"\x00")


@dataclass(slots=True)
class _State:
    home: str
    repo: str
    branch: str | None
    commit: str
    tree: str


class _Checkout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = root / META
        self._db: sqlite3.Connection | None = None

    @classmethod
    def find(cls, start: Path) -> _Checkout:
        for d in (start, *start.parents):
            if (d / META / "state.json").is_file():
                return cls(d)
        raise InvalidArgument(f"{start} is not a datavc checkout (run 'datavc checkout REPO@REF DIR' first)")

    def exists(self) -> bool:
        return (self.meta / "state.json").is_file()

    def load(self) -> _State:
        try:
            doc = json.loads((self.meta / "state.json").read_text())
            return _State(doc["home"], doc["repo"], doc.get("branch"), doc["commit"], doc["tree"])
        except (OSError, ValueError, KeyError) as err:
            raise InvalidArgument(f"damaged checkout state in {self.meta}: {err}") from None

    def save(self, st: _State) -> None:
        self.meta.mkdir(exist_ok=True)
        doc = json.dumps(_asdict(st), indent=2) + "\n"
        atomic_write(self.meta / "state.json", doc.encode(), fsync=False)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.meta.mkdir(exist_ok=True)
            self._db = sqlite3.connect(self.meta / "index.sqlite")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS files (key BLOB PRIMARY KEY, path TEXT, size INTEGER, "
                "mtime_ns INTEGER, hash TEXT) WITHOUT ROWID"
            )
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.commit()
            self._db.close()
            self._db = None


def _asdict(st: _State) -> dict[str, object]:
    return {"home": st.home, "repo": st.repo, "branch": st.branch, "commit": st.commit, "tree": st.tree}


def _walk_local(root: Path, prefix: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """Regular files below ``root`` in tree order, skipping the checkout's own metadata."""
    try:
        children = sorted(os.scandir(root / prefix if prefix else root), key=lambda d: d.name)
    except OSError as err:
        raise InvalidArgument(f"cannot read {root / prefix}: {err.strerror}") from err
    for d in children:
        if not prefix and d.name == META:
            continue
        try:
            check_name(d.name)
        except Exception as err:
            raise InvalidArgument(f"{d.path!r}: file name is not valid UTF-8") from err
        rel = prefix + d.name
        st = os.stat(d.path)
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_local(root, rel + "/")
        elif stat.S_ISREG(st.st_mode):
            yield rel, st


def _hash_file(ctx: Context, path: Path) -> str:
    h = ctx.store.algorithm.new()
    with open(path, "rb", buffering=0) as f:
        while block := f.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def _changes(ctx: Context, co: _Checkout) -> Iterator[tuple[str, str, os.stat_result | None]]:
    """(path, status, stat) of every local change, in tree order; refreshes touched-but-same index rows."""
    rows = co.db.execute("SELECT key, path, size, mtime_ns, hash FROM files ORDER BY key")
    row = rows.fetchone()
    touched: list[tuple[int, str]] = []
    for rel, st in _walk_local(co.root):
        k = _key(rel)
        while row is not None and row[0] < k:
            yield row[1], "deleted", None
            row = rows.fetchone()
        if row is not None and row[0] == k:
            if row[2] != st.st_size or row[3] != st.st_mtime_ns:
                if row[2] == st.st_size and _hash_file(ctx, co.root / rel) == row[4]:
                    touched.append((st.st_mtime_ns, rel))
                else:
                    yield rel, "modified", st
            row = rows.fetchone()
        else:
            yield rel, "added", st
    while row is not None:
        yield row[1], "deleted", None
        row = rows.fetchone()
    if touched:
        co.db.executemany("UPDATE files SET mtime_ns = ? WHERE key = ?", [(m, _key(p)) for m, p in touched])
        co.db.commit()


def _index_put(co: _Checkout, rel: str, entry: Entry, st: os.stat_result) -> None:
    co.db.execute(
        "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
        (_key(rel), rel, st.st_size, st.st_mtime_ns, entry.hash),
    )


def checkout(
    ctx: Context,
    repo: str,
    ref: str,
    dest: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> CheckoutInfo:
    """Materialise ``repo@ref`` in ``dest``; an existing checkout is updated file by file.

    Raises:
        Conflict: the checkout has local changes (unless ``force``);
        InvalidArgument: ``dest`` is a non-empty directory that is not a checkout.
    """
    snap = snapshot(ctx, repo, ref)
    with ctx.db.read() as s:
        r = get_repo(s, repo)
        is_branch = True
        try:
            get_branch(s, r, ref)
        except NotFound:
            is_branch = False
    root = Path(dest).absolute()
    co = _Checkout(root)
    home = str(ctx.home) if ctx.home else ""
    written = deleted = 0
    try:
        if co.exists():
            old = co.load()
            if old.repo != repo:
                raise InvalidArgument(f"{root} is a checkout of repo {old.repo!r}, not {repo!r}")
            if not force:
                dirty = next(iter(_changes(ctx, co)), None)
                if dirty is not None:
                    raise Conflict(
                        f"{root} has local changes (/{dirty[0]} {dirty[1]}): "
                        "commit them first, or use --force"
                    )
            with storage_errors():
                for d in ctx.store.diff(old.tree, snap.tree):
                    target = root / d.path
                    if d.new is None:
                        target.unlink(missing_ok=True)
                        co.db.execute("DELETE FROM files WHERE key = ?", (_key(d.path),))
                        _prune_empty(target.parent, root)
                        deleted += 1
                    else:
                        _export(ctx, co, d.path, d.new)
                        written += 1
                        if progress is not None:
                            progress(d.new.size)
        else:
            if root.exists() and any(root.iterdir()):
                raise InvalidArgument(f"{root} is not empty and not a datavc checkout")
            root.mkdir(parents=True, exist_ok=True)
            with storage_errors():
                for rel, e in ctx.store.trees.walk(snap.tree):
                    _export(ctx, co, rel, e)
                    written += 1
                    if progress is not None:
                        progress(e.size)
        co.db.commit()
        co.save(_State(home, repo, ref if is_branch else None, snap.commit, snap.tree))
        total = co.db.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        co.close()
    return CheckoutInfo(
        repo, ref, snap.commit, ref if is_branch else None, str(root), written, deleted, total - written
    )


def _export(ctx: Context, co: _Checkout, rel: str, e: Entry) -> None:
    target = co.root / rel
    if target.is_dir() and not target.is_symlink():
        import shutil

        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    ctx.store.export(e, target)
    _index_put(co, rel, e, os.stat(target))


def _prune_empty(d: Path, root: Path) -> None:
    while d != root and d.is_dir() and not any(d.iterdir()):
        d.rmdir()
        d = d.parent


def status(ctx: Context, dest: str | os.PathLike[str] = ".") -> StatusInfo:
    """What changed in a checkout since it was checked out (or last committed)."""
    co = _Checkout.find(Path(dest).absolute())
    try:
        st = co.load()
        changes = tuple(
            DiffInfo("/" + rel, kind, None, s.st_size if s else None, None, None)
            for rel, kind, s in _changes(ctx, co)
        )
    finally:
        co.close()
    return StatusInfo(str(co.root), st.repo, st.branch, st.commit, changes)


def commit_workdir(
    ctx: Context, dest: str | os.PathLike[str] = ".", message: str = "", *, rebase: bool = False
) -> CommitInfo:
    """Commit a checkout's changes to the branch it was checked out from.

    Raises:
        InvalidArgument: not a checkout, checked out from a commit rather than a branch, or nothing to commit;
        BranchMoved: the branch moved since the checkout (unless ``rebase``).
    """
    co = _Checkout.find(Path(dest).absolute())
    try:
        st = co.load()
        if st.branch is None:
            raise InvalidArgument(f"{co.root} was checked out from commit {st.commit[:12]}, not a branch")
        head = snapshot(ctx, st.repo, st.branch)
        if head.commit != st.commit and not rebase:
            raise BranchMoved(
                f"{st.repo}@{st.branch} moved since this checkout ({st.commit[:12]} -> {head.commit[:12]}): "
                "use --rebase to apply your changes on top"
            )
        pending = list(_changes(ctx, co))
        if not pending:
            raise InvalidArgument("nothing to commit: the checkout has no changes")
        changes: dict[str, Entry | None] = {}
        stats: dict[str, os.stat_result] = {}
        with storage_errors(), ctx.store.writer() as w:
            for rel, kind, s in sorted(pending, key=lambda p: tree_order(p[0])):
                if kind == "deleted":
                    changes[rel] = None
                else:
                    changes[rel] = w.put_file(co.root / rel, rel.rsplit("/", 1)[-1])
                    assert s is not None
                    stats[rel] = s
        info = one_shot(
            ctx,
            st.repo,
            st.branch,
            lambda w, tree: w.update_tree(tree, changes),
            message=message or f"commit {len(changes)} changes from {co.root.name}",
            mode="rebase" if rebase else "strict",
        )
        for rel, entry in changes.items():
            if entry is None:
                co.db.execute("DELETE FROM files WHERE key = ?", (_key(rel),))
            else:
                _index_put(co, rel, entry, stats[rel])
        co.db.commit()
        if rebase and head.commit != st.commit:
            # Bring the other writers' changes into the checkout too.
            with storage_errors():
                for d in ctx.store.diff(st.tree, head.tree):
                    if d.path in changes:
                        continue
                    if d.new is None:
                        (co.root / d.path).unlink(missing_ok=True)
                        co.db.execute("DELETE FROM files WHERE key = ?", (_key(d.path),))
                    else:
                        _export(ctx, co, d.path, d.new)
            co.db.commit()
        co.save(_State(st.home, st.repo, st.branch, info.id, info.tree))
        return info
    finally:
        co.close()
