"""Working copies: ``checkout`` a commit into a directory, ``status`` it, ``commit`` its changes back.

A checkout keeps ``.datavc-checkout/`` in its directory: ``state.json`` (store, repo,
branch, commit, tree) and ``index.sqlite`` (size, mtime and content hash of every file
as checked out). ``status`` stats every file and hashes only those whose size or mtime
changed; checking out another commit into an existing checkout rewrites only the files
that differ between the two commits. The index is keyed in tree order, so status is a
streaming merge of the directory walk and the index.

A checkout that changes files is journaled: before the first file changes, ``state.json``
records the target (commit, tree, the ref asked for) and the trees the files may still come
from. A SIGKILL half-way leaves that record; ``status`` then reports an incomplete checkout,
``commit`` refuses, and the next ``checkout`` finishes the job by reconciling every path
that differs between those trees and its target (rewriting what does not match, deleting
what the target lacks). New file content is written under ``.datavc-checkout/tmp/`` and
renamed into place, so a half-written file is never seen under a user's name.

Symbolic links in a checkout are neither followed nor committed: ``status`` and ``commit``
skip them (and report them to ``on_skip``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from datavc import localscan
from datavc.errors import BranchMoved, Conflict, InvalidArgument, NotFound
from datavc.info_core import DiffInfo, StatusInfo
from datavc.localscan import META as META
from datavc.localscan import TEMP_SUFFIX as TEMP_SUFFIX
from datavc.localscan import Skipped as Skipped
from datavc.localscan import hash_file as _hash_file
from datavc.localscan import key as _key
from storage.fileio import atomic_write
from storage.hashing import HashAlgorithm
from storage.model import Entry
from storage.store import ObjectStore
from storage.tree import tree_order

# ``status`` needs only the object store's hash algorithm and the checkout's own index:
# ``datavc status`` runs it through datavc.light without SQLAlchemy, so the modules that
# bring SQLAlchemy (services, contexts, export) are imported by the functions that use them.
if TYPE_CHECKING:
    from datavc.context import Context
    from datavc.export import LocalCopy
    from datavc.files import Snapshot
    from datavc.info import CheckoutInfo, CommitInfo


class HasStore(Protocol):
    """What local-change detection needs: a :class:`Context`, or a light reader."""

    @property
    def store(self) -> ObjectStore: ...


@dataclass(slots=True)
class _Pending:
    """A checkout in progress: what the files are being brought to, and from."""

    ref: str
    branch: str | None
    commit: str
    tree: str
    sources: list[str]  # trees whose files may still be on disk (the last checked-out one, ...)


@dataclass(slots=True)
class _State:
    home: str
    repo: str
    branch: str | None
    commit: str
    tree: str
    pending: _Pending | None = None

    def finish_command(self, root: Path) -> str:
        assert self.pending is not None
        return f"datavc checkout {self.repo}@{self.pending.ref} {root}"


class _Checkout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = root / META
        self._db: sqlite3.Connection | None = None
        self.exported = 0

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
            p = doc.get("pending")
            pending = (
                _Pending(str(p["ref"]), p.get("branch"), str(p["commit"]), str(p["tree"]), list(p["sources"]))
                if p
                else None
            )
            return _State(doc["home"], doc["repo"], doc.get("branch"), doc["commit"], doc["tree"], pending)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InvalidArgument(f"damaged checkout state in {self.meta}: {err}") from None

    def save(self, st: _State) -> None:
        """Replace ``state.json`` atomically and durably: it is the checkout's journal too."""
        self.meta.mkdir(exist_ok=True)
        doc = json.dumps(_asdict(st), indent=2) + "\n"
        atomic_write(self.meta / "state.json", doc.encode(), fsync=True)

    @property
    def tmp(self) -> Path:
        return self.meta / "tmp"

    def clean_tmp(self) -> None:
        """Remove temp files a killed checkout left (the directory itself is kept)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        for d in os.scandir(self.tmp):
            with contextlib.suppress(OSError):
                os.unlink(d.path)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.meta.mkdir(exist_ok=True)
            self._db = sqlite3.connect(self.meta / "index.sqlite")
            localscan.create_schema(self._db)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.commit()
            self._db.close()
            self._db = None


def _asdict(st: _State) -> dict[str, object]:
    doc: dict[str, object] = {
        "home": st.home,
        "repo": st.repo,
        "branch": st.branch,
        "commit": st.commit,
        "tree": st.tree,
    }
    if st.pending is not None:
        p = st.pending
        doc["pending"] = {
            "ref": p.ref,
            "branch": p.branch,
            "commit": p.commit,
            "tree": p.tree,
            "sources": p.sources,
        }
    return doc


def _changes(
    algorithm: HashAlgorithm, co: _Checkout, on_skip: Skipped | None = None
) -> list[tuple[str, str, os.stat_result | None]]:
    """(path, status, stat) of every local change, in tree order (see :mod:`datavc.localscan`)."""
    return localscan.changes(algorithm, co.db, co.root, on_skip)


def _index_put(co: _Checkout, rel: str, hash: str, st: os.stat_result) -> None:
    co.db.execute(
        "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
        (_key(rel), rel, st.st_size, st.st_mtime_ns, hash),
    )


def _resolve(ctx: Context, repo: str, ref: str) -> tuple[Snapshot, bool]:
    """``(snapshot of ref, whether ref is a branch)``; a branch with no commits yet is the
    empty tree (commit ``""``), so a new repo can be checked out, filled and committed as in git."""
    from datavc.files import Snapshot, snapshot
    from datavc.refs import get_branch
    from datavc.repos import get_repo

    with ctx.db.read() as s:
        r = get_repo(s, repo)
        try:
            unborn = get_branch(s, r, ref).head_id is None
        except NotFound:
            return snapshot(ctx, repo, ref), False
    if unborn:
        return Snapshot(repo, "", ctx.empty_tree, None), True
    return snapshot(ctx, repo, ref), True


def existing_checkout(co: _Checkout, repo: str, force: bool, alg: HashAlgorithm) -> _State | None:
    """What a checkout into ``co`` starts from: its recorded state, or None for a new one.

    The checks every checkout (local or through a server) makes before it writes anything.

    Raises:
        InvalidArgument: a checkout of another repo, or a non-empty directory that is no checkout;
        Conflict: local changes, unless ``force`` (not checked while finishing an interrupted one).
    """
    root = co.root
    if not co.exists():
        if root.exists() and any(c.name != META for c in root.iterdir()):
            raise InvalidArgument(f"{root} is not empty and not a datavc checkout")
        return None
    old = co.load()
    if old.repo != repo:
        raise InvalidArgument(f"{root} is a checkout of repo {old.repo!r}, not {repo!r}")
    if old.pending is None and not force:
        dirty = next(iter(_changes(alg, co)), None)
        if dirty is not None:
            raise Conflict(
                f"{root} has local changes (/{dirty[0]} {dirty[1]}): commit them first, or use --force"
            )
    return old


def sources_of(old: _State) -> list[str]:
    """The trees the directory may hold files of: the checked-out one, and an interrupted checkout's."""
    return [old.tree] if old.pending is None else [*old.pending.sources, old.pending.tree]


def journal_rebase(co: _Checkout, st: _State, info: CommitInfo) -> None:
    """Before a rebased commit brings the other writers' changes into the checkout: journal
    it as a checkout of the new commit, so an interrupted one is finished by the next checkout."""
    assert st.branch is not None
    co.clean_tmp()
    co.save(
        _State(
            st.home,
            st.repo,
            st.branch,
            st.commit,
            st.tree,
            _Pending(st.branch, st.branch, info.id, info.tree, [st.tree]),
        )
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

    The checkout is journaled in ``state.json`` before any file changes; run again after a
    crash, it finishes the interrupted one (local changes are not checked then: the
    interrupted checkout checked them, or was forced).

    Raises:
        Conflict: the checkout has local changes (unless ``force``);
        InvalidArgument: ``dest`` is a non-empty directory that is not a checkout.
    """
    snap, is_branch = _resolve(ctx, repo, ref)
    branch = ref if is_branch else None
    root = Path(dest).absolute()
    co = _Checkout(root)
    home = str(ctx.home) if ctx.home else ""
    try:
        old = existing_checkout(co, repo, force, ctx.store.algorithm)
        if old is not None:
            sources = sources_of(old)
        else:
            root.mkdir(parents=True, exist_ok=True)
            old = _State(home, repo, None, "", ctx.empty_tree)
            sources = [old.tree]
        sources = list(dict.fromkeys(sources))
        co.clean_tmp()
        co.save(
            _State(
                old.home,
                repo,
                old.branch,
                old.commit,
                old.tree,
                _Pending(ref, branch, snap.commit, snap.tree, sources),
            )
        )
        if old.pending is None:
            written, deleted = _apply_diff(ctx, co, sources[0], snap.tree, progress)
        else:
            written, deleted = _reconcile(ctx, co, sources, snap.tree, progress)
        co.db.commit()
        co.save(_State(home, repo, branch, snap.commit, snap.tree))
        total = co.db.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        co.close()
    from datavc.info import CheckoutInfo  # not at import: ``status`` never needs it

    return CheckoutInfo(repo, ref, snap.commit, branch, str(root), written, deleted, total - written)


def _apply_diff(
    ctx: Context, co: _Checkout, old: str, new: str, progress: Callable[[int], None] | None
) -> tuple[int, int]:
    """Bring files checked out from tree ``old`` to tree ``new``; returns (written, deleted).

    Deletions go first, then the writes run through :meth:`Exporter.write_files` (several
    files at once from a remote store): with the deletions done, no write can race one
    (a file replacing a deleted directory, or the reverse). The index is updated here, in
    path order, on this thread.
    """
    deleted = 0
    for d in ctx.store.diff(old, new):
        if d.new is None:
            deleted += _remove(co, d.path)
    writes = (
        (d.path, d.new, _local_copy(co, d.path, d.old)) for d in ctx.store.diff(old, new) if d.new is not None
    )
    from datavc.export import Exporter

    exporter = Exporter(ctx.store, co.root, reserved=(META,), tmp_dir=co.tmp)
    written = 0
    for rel, e, st in _local_writes(co, exporter.write_files(writes, replace_dir=True)):
        _index_put(co, rel, e.hash, st)
        co.exported += 1
        if co.exported % _INDEX_COMMIT_EVERY == 0:
            co.db.commit()  # a crash then re-hashes fewer files
        written += 1
        if progress is not None:
            progress(e.size)
    return written, deleted


def _local_copy(co: _Checkout, rel: str, old: Entry | None) -> LocalCopy | None:
    """The checked-out file at ``rel`` as a source of ``old``'s bytes, if the index says it
    still holds them (same size, mtime and hash as when written): a changed large file is
    then rebuilt from its unchanged local ranges plus the fetched new chunks."""
    if old is None or old.is_dir or not (old.refs or old.index):
        return None
    path = co.root / rel
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or not _inside(co, path.parent):
        return None
    row = co.db.execute("SELECT size, mtime_ns, hash FROM files WHERE key = ?", (_key(rel),)).fetchone()
    if row is None or tuple(row) != (st.st_size, st.st_mtime_ns, old.hash):
        return None
    return old, path


def _local_writes(
    co: _Checkout, results: Iterator[tuple[str, Entry, os.stat_result]]
) -> Iterator[tuple[str, Entry, os.stat_result]]:
    """``results``, with a local write error (disk full, name too long) as one clear error."""
    try:
        yield from results
    except OSError as err:
        filename = getattr(err, "filename", None)
        where = f"{filename}" if filename else str(co.root)
        raise InvalidArgument(
            f"cannot write {where}: {err.strerror or err}; the checkout is incomplete"
        ) from err


def _reconcile(
    ctx: Context, co: _Checkout, sources: list[str], new: str, progress: Callable[[int], None] | None
) -> tuple[int, int]:
    """Finish an interrupted checkout to tree ``new``.

    The files on disk may be from any of ``sources`` (or half-way between), so every path
    that differs between a source and ``new`` is checked: a file that already holds the
    target content (by the index's size and mtime, else by hash) is kept, others are
    rewritten, and paths ``new`` lacks are deleted. Paths in no diff were never touched.
    """
    written = deleted = 0
    seen: set[str] = set()
    for src in sources:
        for d in ctx.store.diff(src, new):
            if d.path in seen:
                continue
            seen.add(d.path)
            if d.new is None:
                deleted += _remove(co, d.path)
            elif not _holds(ctx.store.algorithm, co, d.path, d.new.size, d.new.hash):
                _export(ctx, co, d.path, d.new)
                written += 1
                if progress is not None:
                    progress(d.new.size)
    return written, deleted


def _holds(algorithm: HashAlgorithm, co: _Checkout, rel: str, size: int, hash: str) -> bool:
    """Whether the local file at ``rel`` already has this content (its index row is refreshed)."""
    try:
        st = os.lstat(co.root / rel)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return False
    row = co.db.execute("SELECT size, mtime_ns, hash FROM files WHERE key = ?", (_key(rel),)).fetchone()
    if row is not None and tuple(row) == (st.st_size, st.st_mtime_ns, hash):
        return True
    if _hash_file(algorithm, co.root / rel) != hash:
        return False
    _index_put(co, rel, hash, st)
    return True


def _inside(co: _Checkout, d: Path) -> bool:
    """Whether directory ``d`` really is inside the checkout (no symlinked parent leads out)."""
    real_root = os.path.realpath(co.root)
    return os.path.commonpath([real_root, os.path.realpath(d)]) == real_root


def _remove(co: _Checkout, rel: str) -> int:
    """Delete the checked-out file at ``rel`` (a directory there is left alone); 1 if removed."""
    target = co.root / rel
    if not _inside(co, target.parent):
        # A directory on the way was replaced by a link out of the checkout: never follow it.
        raise InvalidArgument(f"/{rel}: its directory leads outside the checkout {co.root}; not removed")
    co.db.execute("DELETE FROM files WHERE key = ?", (_key(rel),))
    try:
        target.unlink()
    except (FileNotFoundError, IsADirectoryError):
        return 0
    except OSError as err:
        with _local_errors(co, rel):
            raise err
    with contextlib.suppress(OSError):
        _prune_empty(target.parent, co.root)
    return 1


_INDEX_COMMIT_EVERY = 512


@contextlib.contextmanager
def _local_errors(co: _Checkout, rel: str) -> Iterator[None]:
    """A local file operation that failed (name too long, disk full, ...) as one clear error."""
    try:
        yield
    except OSError as err:
        raise InvalidArgument(
            f"cannot write /{rel} in {co.root}: {err.strerror or err}; the checkout is incomplete"
        ) from err


def _export(ctx: Context, co: _Checkout, rel: str, e: Entry) -> None:
    """Write ``e``'s content to ``rel``: into ``.datavc-checkout/tmp`` first, then renamed in place."""
    with _local_errors(co, rel):
        _write_file(ctx, co, rel, e)
    co.exported += 1
    if co.exported % _INDEX_COMMIT_EVERY == 0:
        co.db.commit()  # a crash then re-hashes fewer files


def _write_file(ctx: Context, co: _Checkout, rel: str, e: Entry) -> None:
    from datavc.export import Exporter

    st = Exporter(ctx.store, co.root, reserved=(META,), tmp_dir=co.tmp).write(rel, e, replace_dir=True)
    _index_put(co, rel, e.hash, st)


def _prune_empty(d: Path, root: Path) -> None:
    """Remove directories emptied by a deletion, up to (never including) the checkout root."""
    while d != root and d.is_dir() and not any(d.iterdir()):
        d.rmdir()
        d = d.parent


def status(
    ctx: HasStore, dest: str | os.PathLike[str] = ".", *, on_skip: Skipped | None = None
) -> StatusInfo:
    """What changed in a checkout since it was checked out (or last committed).

    An interrupted checkout has no meaningful changes: it is reported as incomplete
    (``pending_commit``/``pending_ref``), with no changes listed, until checkout finishes it.
    """
    return local_status(dest, lambda _tree: ctx.store.algorithm, on_skip)


def local_status(
    dest: str | os.PathLike[str], algorithm_for: Callable[[str], HashAlgorithm], on_skip: Skipped | None
) -> StatusInfo:
    """:func:`status` from the checkout alone, hashing with ``algorithm_for(checked-out tree)``
    (the store's algorithm; a remote checkout tells it from the tree id)."""
    co = _Checkout.find(Path(dest).absolute())
    try:
        st = co.load()
        if st.pending is not None:
            return StatusInfo(
                str(co.root), st.repo, st.branch, st.commit, (), st.pending.commit, st.pending.ref
            )
        changes = tuple(
            DiffInfo("/" + rel, kind, None, s.st_size if s else None, None, None)
            for rel, kind, s in _changes(algorithm_for(st.tree), co, on_skip)
        )
    finally:
        co.close()
    return StatusInfo(str(co.root), st.repo, st.branch, st.commit, changes)


def moved_since_checkout(st: _State, now: str) -> BranchMoved:
    """The error for a checkout's branch that moved (to ``now``) since it was checked out."""
    return BranchMoved(
        st.repo,
        st.branch or "",
        f"{st.repo}@{st.branch} moved since this checkout ({st.commit[:12]} -> {now[:12]}): "
        "use --rebase to apply your changes on top",
    )


def prepare_commit(
    co: _Checkout,
    head_of: Callable[[str, str], str],
    rebase: bool,
    algorithm_for: Callable[[str], HashAlgorithm],
    on_skip: Skipped | None,
) -> tuple[_State, str, list[tuple[str, str, os.stat_result | None]]]:
    """What committing a checkout starts from, direct or remote: its state, the branch's
    head now (``head_of(repo, branch)``) and the local changes, hashed with
    ``algorithm_for(checked-out tree)``; refuses what cannot commit.

    Raises:
        Conflict: a checkout into it was interrupted; InvalidArgument: checked out from a
        commit, or nothing to commit; BranchMoved: the branch moved (unless ``rebase``).
    """
    st = co.load()
    if st.pending is not None:
        raise Conflict(
            f"the checkout of {st.repo}@{st.pending.ref} in {co.root} was interrupted and is incomplete: "
            f"run '{st.finish_command(co.root)}' to finish it before committing"
        )
    if st.branch is None:
        raise InvalidArgument(f"{co.root} was checked out from commit {st.commit[:12]}, not a branch")
    head = head_of(st.repo, st.branch)
    if head != st.commit and not rebase:
        raise moved_since_checkout(st, head)
    pending = list(_changes(algorithm_for(st.tree), co, on_skip))
    if not pending:
        raise InvalidArgument("nothing to commit: the checkout has no changes")
    return st, head, pending


def record_committed(
    co: _Checkout, hashes: Mapping[str, str | None], stats: Mapping[str, os.stat_result]
) -> None:
    """The index after a commit of the checkout's changes: each committed file with its hash
    and the local stat it was read with (``stats``); a path whose hash is None was deleted."""
    for rel, h in hashes.items():
        if h is None:
            co.db.execute("DELETE FROM files WHERE key = ?", (_key(rel),))
        else:
            _index_put(co, rel, h, stats[rel])
    co.db.commit()


def commit_workdir(
    ctx: Context,
    dest: str | os.PathLike[str] = ".",
    message: str = "",
    *,
    rebase: bool = False,
    on_skip: Skipped | None = None,
    metadata: Mapping[str, str] | None = None,
) -> CommitInfo:
    """Commit a checkout's changes to the branch it was checked out from (``metadata`` recorded with it).

    Raises:
        InvalidArgument: not a checkout, checked out from a commit rather than a branch, or nothing to commit;
        Conflict: a checkout into it was interrupted and is not finished;
        BranchMoved: the branch moved since the checkout (unless ``rebase``).
    """
    from datavc.commits import one_shot
    from datavc.context import now

    co = _Checkout.find(Path(dest).absolute())
    try:
        heads = []

        def head_of(repo: str, branch: str) -> str:
            heads.append(_resolve(ctx, repo, branch)[0])
            return heads[-1].commit

        st, _, pending = prepare_commit(co, head_of, rebase, lambda _tree: ctx.store.algorithm, on_skip)
        head = heads[-1]
        assert st.branch is not None
        changes: dict[str, Entry | None] = {}
        stats: dict[str, os.stat_result] = {}
        started = now()  # the commit's age counts from the first upload (datavc.open_commits)
        with ctx.store.writer() as w:
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
            started_at=started,
            metadata=metadata,
        )
        record_committed(co, {rel: None if e is None else e.hash for rel, e in changes.items()}, stats)
        if rebase and head.commit != st.commit:
            # Bring the other writers' changes into the checkout too, journaled like a checkout.
            journal_rebase(co, st, info)
            for d in ctx.store.diff(st.tree, head.tree):
                if d.path in changes:
                    continue
                if d.new is None:
                    _remove(co, d.path)
                else:
                    _export(ctx, co, d.path, d.new)
            co.db.commit()
        co.save(_State(st.home, st.repo, st.branch, info.id, info.tree))
        return info
    finally:
        co.close()
