"""``datavc.Client``: the public Python API (the CLI, notebooks and pipeline code all use it).

Quick tour::

    import datavc
    c = datavc.Client.init("/tmp/lab")                 # embedded: SQLite + local objects
    c.create_repo("images")
    c.put_file("images", "main", "/raw/a.png", b"...")  # one new commit
    with c.commit("images", "main", message="batch") as tx:   # several changes, one commit
        tx.put_file("/raw/b.png", open("b.png", "rb"))
        tx.delete_file("/raw/a.png")
    c.get_file("images", "main", "/raw/b.png")
    for d in c.diff("images", "main"): print(d.status, d.path)
    c.rollback("images", "main", to="main~1")

Refs are branch names, tags, commit ids or unique id prefixes (>= 6 hex), with ``^``,
``~N`` and ``branch@{ISO time}``. Every method returns frozen ``...Info`` values and
raises :class:`datavc.errors.DatavcError` subclasses.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Unpack

from datavc import (
    batch,
    branches,
    commits,
    config,
    content_diff,
    errors,
    export,
    files,
    history,
    hooks,
    repos,
    workdir,
)
from datavc import fsck as _fsck
from datavc import gc as _gc
from datavc import lineage as _lineage
from datavc import merge as _merge
from datavc import rollback as _rollback
from datavc.context import Context, now
from datavc.db.session import Database
from datavc.errors import Conflict, InvalidArgument, NotFound
from datavc.info import (
    BranchInfo,
    CheckoutInfo,
    CommitInfo,
    CommitSetInfo,
    ContentDiffInfo,
    DatumInfo,
    DiffInfo,
    FileInfo,
    FsckInfo,
    GcInfo,
    HookInfo,
    HookResultInfo,
    InlineOutcome,
    JobInfo,
    LineageInfo,
    MergeInfo,
    OpenCommitInfo,
    PipelineInfo,
    ReflogEntry,
    RepairInfo,
    RepoInfo,
    Resolution,
    StatusInfo,
    TagInfo,
)
from datavc.names import check_path
from storage.chunking import ChunkParams
from storage.model import Entry
from storage.store import ObjectStore

# The pipeline methods import datavc.pipelines (pydantic, PyYAML) when called: every other
# command starts about 0.2 s faster. mypy sees the real module; at run time ``_pl`` imports
# it on first use.
if TYPE_CHECKING:
    from datavc.pipelines import pipelines as _pl
    from datavc.pipelines.scheduler import RunReport
    from datavc.pipelines.spec import PipelineSpec
    from storage.writer import Chunk
else:

    class _LazyModule:
        """A module imported at its first attribute access."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            return getattr(importlib.import_module(self._name), attr)

    _pl = _LazyModule("datavc.pipelines.pipelines")

Source = bytes | BinaryIO | str | os.PathLike[str]
Metadata = Mapping[str, str]
Progress = Callable[[int], None]
#: Called with (local path, reason) for each local entry a put, status or commit skips.
Skipped = Callable[[str, str], None]
"""A callback that receives byte counts as a transfer advances."""


class Client:
    """A connection to one datavc store (metadata database + object store)."""

    def __init__(self, cfg: config.StoreConfig, ctx: Context) -> None:
        self.config = cfg
        self._ctx = ctx

    # ----- lifecycle ---------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str] = ".",
        db: str | None = None,
        objects: str | None = None,
        *,
        executor: dict[str, Any] | None = None,
        open_commit_max_age: timedelta | None = None,
        hash: str = "xxh3-128",
    ) -> Client:
        """Create a store in ``path/.datavc``: embedded by default, or shared (PostgreSQL + S3/MinIO).

        Args:
            path: the directory to hold ``.datavc``.
            db: a database URL (``postgresql://...``); default SQLite inside ``.datavc``.
            objects: an object store URL (``s3://bucket/prefix``; endpoint from ``AWS_ENDPOINT_URL``);
                default a local directory inside ``.datavc``.
            executor: where datums run: ``{"kind": "local"}`` (default) or ``{"kind": "kubernetes",
                "namespace": ..., "secret": ..., "image": ...}``.
            open_commit_max_age: how long a commit may stay open (default one day); gc's
                grace may not be shorter.
            hash: object ids, ``xxh3-128`` (fast) or ``sha256`` (for writers who do not
                trust each other: see docs/security.md).

        A failed init leaves nothing behind (see :mod:`datavc.identity` for what it checks).

        Raises:
            AlreadyExists: a store is already there, or the object store or database belongs
                to another store.
        """
        from datavc import identity

        cfg = config.plan(path, db, objects, executor or {"kind": "local"})
        if hash not in ("xxh3-128", "sha256"):
            raise InvalidArgument(f"unknown hash {hash!r}: use xxh3-128 or sha256")
        if open_commit_max_age is not None and not timedelta(0) < open_commit_max_age < timedelta(days=36500):
            raise InvalidArgument("the open-commit max age must be positive and under 100 years")
        before = config.make_home(cfg)
        try:
            max_age = open_commit_max_age.total_seconds() if open_commit_max_age is not None else None
            database, store = identity.create_pair(cfg, max_age_seconds=max_age, algorithm=hash)
            try:
                config.write(cfg)
            except OSError as err:
                database.dispose()
                store.close()
                raise InvalidArgument(f"cannot write {cfg.home / config.CONFIG}: {err.strerror}") from None
        except BaseException:
            config.undo_home(cfg, before)
            raise
        return cls._wrap(cfg, database, store)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Client:
        """Open the store at ``path``, ``$DATAVC_HOME``, or found from the current directory upward.

        Raises:
            StoreNotFound
        """
        return cls._connect(config.find(path), create=False)

    @classmethod
    def from_urls(cls, db: str, objects: str, *, cache: str | None = None) -> Client:
        """Connect to a shared deployment directly (no ``.datavc`` directory): what worker pods do.

        The object store must exist already (``datavc init`` created it).
        """
        from pathlib import Path as _Path

        cfg = config.StoreConfig(_Path("/nonexistent/.datavc"), db, objects, cache)
        return cls._connect(cfg, create=False, home=False)

    @classmethod
    def from_env(cls) -> Client:
        """A remote client when ``DATAVC_SERVER`` is set; else ``from_urls`` with ``DATAVC_DB`` and
        ``DATAVC_OBJECTS`` when both are set, else :meth:`open`."""
        if os.environ.get("DATAVC_SERVER"):
            from datavc.remote import RemoteClient

            return RemoteClient.from_env()
        db, objects = os.environ.get("DATAVC_DB"), os.environ.get("DATAVC_OBJECTS")
        if db and objects:
            return cls.from_urls(db, objects, cache=os.environ.get("DATAVC_CACHE") or None)
        return cls.open()

    @classmethod
    def _connect(cls, cfg: config.StoreConfig, *, create: bool, home: bool = True) -> Client:
        from datavc import identity

        assert not create, "Client.init creates stores"
        db, store = identity.open_pair(cfg)  # checks that they are one store's two halves
        return cls._wrap(cfg, db, store, home=home)

    @classmethod
    def _wrap(cls, cfg: config.StoreConfig, db: Database, store: ObjectStore, *, home: bool = True) -> Client:
        ctx = Context(db, store, home=str(cfg.home) if home else None)
        ctx.executor_settings = dict(cfg.executor)
        return cls(cfg, ctx)

    def close(self) -> None:
        """Release the database and object store connections."""
        self._ctx.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def context(self) -> Context:
        """The services' context (database, object store, user): for datavc's own modules."""
        return self._ctx

    # ----- repos -------------------------------------------------------------

    def create_repo(self, name: str, description: str = "") -> RepoInfo:
        """Create a repo with an empty ``main`` branch."""
        return repos.create_repo(self._ctx, name, description)

    def list_repos(self) -> list[RepoInfo]:
        """All repos, by name."""
        return repos.list_repos(self._ctx)

    def inspect_repo(self, name: str) -> RepoInfo:
        """One repo: description, branches, size and file count of ``main``, commit count."""
        return repos.inspect_repo(self._ctx, name)

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        """Delete a repo; one with commits needs ``force`` (its objects go at the next gc).

        A repo a pipeline reads or writes needs ``force`` too, which stops that pipeline
        (its ``reason`` says why) until :meth:`start_pipeline`.
        """
        repos.delete_repo(self._ctx, name, force=force)

    # ----- branches and tags -------------------------------------------------

    def create_branch(self, repo: str, name: str, from_ref: str | None = None) -> BranchInfo:
        """Create a branch at ``from_ref`` (default: ``main``'s head)."""
        return branches.create_branch(self._ctx, repo, name, from_ref)

    def list_branches(self, repo: str) -> list[BranchInfo]:
        return branches.list_branches(self._ctx, repo)

    def inspect_branch(self, repo: str, name: str) -> BranchInfo:
        return branches.inspect_branch(self._ctx, repo, name)

    def delete_branch(self, repo: str, name: str, *, force: bool = False) -> None:
        """Delete a branch; its commits stay reachable by id. ``force`` bypasses strict protection."""
        branches.delete_branch(self._ctx, repo, name, force=force)

    def reset_branch(self, repo: str, name: str, to: str, *, force: bool = False) -> BranchInfo:
        """Move a branch head to ``to`` directly (no new commit; recorded in the reflog).

        ``force`` bypasses strict protection (on the server, only the repo's owner may).
        """
        return branches.reset_branch(self._ctx, repo, name, to, force=force)

    def protect_branch(self, repo: str, name: str, level: str = "merge") -> BranchInfo:
        """Protect a branch: ``merge`` (it moves only by merge), ``strict`` (and is never deleted or
        reset), ``""`` (no protection). Bypassing it takes ``force`` (and the owner role on a server)."""
        return branches.protect_branch(self._ctx, repo, name, level)

    def reflog(self, repo: str, branch: str, limit: int | None = None) -> list[ReflogEntry]:
        """Every head move of a branch, newest first."""
        return branches.reflog(self._ctx, repo, branch, limit)

    def create_tag(self, repo: str, ref: str, name: str) -> TagInfo:
        """Name the commit ``ref`` resolves to."""
        return branches.create_tag(self._ctx, repo, ref, name)

    def list_tags(self, repo: str) -> list[TagInfo]:
        return branches.list_tags(self._ctx, repo)

    def delete_tag(self, repo: str, name: str) -> None:
        branches.delete_tag(self._ctx, repo, name)

    # ----- commits -----------------------------------------------------------

    def start_commit(
        self, repo: str, branch: str = "main", message: str = "", *, metadata: Metadata | None = None
    ) -> CommitInfo:
        """Open a commit on ``branch`` for several writes; finish or abort it later.

        ``metadata``: ``key=value`` pairs recorded with the commit (see :mod:`datavc.commit_metadata`).
        """
        return commits.start_commit(self._ctx, repo, branch, message=message, metadata=metadata)

    def finish_commit(
        self,
        repo: str,
        commit: str,
        message: str | None = None,
        *,
        metadata: Metadata | None = None,
        force: bool = False,
    ) -> CommitInfo:
        """Finish an open commit; the branch moves to it (re-applying its changes if the branch moved).

        ``metadata`` adds ``key=value`` pairs; ``force`` bypasses branch protection.
        """
        return commits.finish_commit(self._ctx, repo, commit, message=message, metadata=metadata, force=force)

    def abort_commit(self, repo: str, commit: str) -> None:
        """Drop an open commit; nothing it wrote becomes visible."""
        commits.abort_commit(self._ctx, repo, commit)

    def inspect_commit(self, repo: str, ref: str) -> CommitInfo:
        """One commit: parent, branch, origin, message, author, times, size, file count, provenance."""
        return commits.inspect_commit(self._ctx, repo, ref)

    def log(
        self,
        repo: str,
        ref: str = "main",
        limit: int | None = None,
        *,
        where: Metadata | None = None,
        all_parents: bool = False,
        path: str | None = None,
        follow: bool = False,
    ) -> Iterator[CommitInfo]:
        """History from ``ref`` back through first parents, newest first.

        ``where``: only commits whose metadata has every ``key=value``. ``all_parents``:
        merged-in history too, each commit after its children (for ``log --graph``).
        ``path``: only the commits that changed that file or directory (``follow``: on
        through the ``cp`` that created it); costs the history length times log n.
        """
        if path is not None and check_path(path):
            if where or all_parents:
                raise InvalidArgument("a file's history takes neither where nor all_parents")
            return history.file_log(self._ctx, repo, ref, check_path(path), follow=follow, limit=limit)
        return commits.log(self._ctx, repo, ref, limit, where=where, all_parents=all_parents)

    def list_open_commits(self, repo: str) -> list[CommitInfo]:
        return commits.list_open_commits(self._ctx, repo)

    def open_commits(self, repo: str | None = None) -> list[OpenCommitInfo]:
        """Open commits (of ``repo``, or of every repo), oldest first, with when each expires."""
        return commits.list_open_commits_expiry(self._ctx, repo)

    def commit(
        self, repo: str, branch: str = "main", message: str = "", *, metadata: Metadata | None = None
    ) -> CommitTransaction:
        """A context manager: an open commit finished on success, aborted on an exception."""
        return CommitTransaction(self, repo, branch, message, metadata)

    # ----- files -------------------------------------------------------------

    def put_file(
        self,
        repo: str,
        branch: str,
        path: str,
        src: Source,
        *,
        message: str = "",
        commit: str | None = None,
        progress: Progress | None = None,
        follow_symlinks: bool = False,
        on_skip: Skipped | None = None,
        metadata: Metadata | None = None,
    ) -> CommitInfo:
        """Store bytes, a binary stream, a local file or a local directory at ``path``.

        A directory's contents go under ``path`` (merged with what is there). Without
        ``commit`` this makes one new commit on ``branch``; with ``commit`` (an open
        commit's id) the change joins that commit, which is returned as it is now.
        ``progress`` is called with byte counts as the data is taken in. Symbolic links
        in a directory are skipped (reported to ``on_skip``); with ``follow_symlinks``
        those that stay inside the directory are followed. A source that is a link is
        refused unless ``follow_symlinks``. ``metadata`` is recorded with the new commit
        (with ``commit``, give it to :meth:`start_commit` or :meth:`finish_commit` instead).
        """
        p = check_path(path)
        _no_metadata_with_open_commit(metadata, commit)
        if commit is None:
            # Open the commit before uploading: the upload is then visible as an open commit
            # (``log --open``), and its objects are younger than the commit, which is what
            # keeps a gc grace of open_commit_max_age safe (datavc.open_commits).
            started = commits.start_commit(self._ctx, repo, branch, message=message or f"put /{p}")
            try:
                self.put_file(
                    repo,
                    branch,
                    path,
                    src,
                    commit=started.id,
                    progress=progress,
                    follow_symlinks=follow_symlinks,
                    on_skip=on_skip,
                )
                return commits.finish_commit(self._ctx, repo, started.id, metadata=metadata)
            except BaseException:
                try:
                    commits.abort_commit(self._ctx, repo, started.id)
                except (errors.CommitNotFound, errors.CommitFinished):
                    pass
                raise
        base = None
        if isinstance(src, str | os.PathLike) and Path(src).is_dir():
            base = self._existing_dir(repo, commit, p)
        name = p.rsplit("/", 1)[-1]
        entry = files.store_source(
            self._ctx,
            src,
            name,
            base=base,
            at=p,
            progress=progress,
            follow_symlinks=follow_symlinks,
            on_skip=on_skip,
        )
        edit = files.edit_merge_dir(p, entry.hash) if entry.is_dir else files.edit_put_entry(p, entry)
        return self._apply(repo, branch, edit, message or f"put /{p}", commit)

    def put_batch(
        self,
        repo: str,
        branch: str,
        path: str,
        stream: BinaryIO,
        *,
        message: str = "",
        commit: str | None = None,
        progress: Progress | None = None,
    ) -> CommitInfo:
        """Store a batch stream's files (:mod:`datavc.batch`) under ``path``, merged as a directory is.

        The batch form of :meth:`put_file` for many files in one stream (the remote
        client sends a directory this way). Into the open ``commit``, or one new commit
        made only once the stream is complete: a cut stream leaves no open commit.

        Raises:
            InvalidArgument: not a batch stream, a cut one, a path the store refuses.
        """
        p = check_path(path)
        name = p.rsplit("/", 1)[-1]

        def store(base: str | None) -> Entry:
            return batch.store_batch(self._ctx, stream, name, at=p, base=base, progress=progress)

        return self._put_stored(repo, branch, p, message, commit, store, is_dir=True)

    def put_stream(
        self,
        repo: str,
        branch: str,
        path: str,
        stream: BinaryIO,
        *,
        message: str = "",
        commit: str | None = None,
    ) -> CommitInfo:
        """Store one file from a stream, as :meth:`put_file` does, for data arriving over a network.

        Without ``commit``, the commit is made once the stream has been read to its end
        (not opened before, as :meth:`put_file` does): an upload cut half-way, or a server
        killed during it, leaves no open commit behind.
        """
        p = check_path(path)
        name = p.rsplit("/", 1)[-1]

        def store(base: str | None) -> Entry:
            return files.store_source(self._ctx, stream, name)

        return self._put_stored(repo, branch, p, message, commit, store, is_dir=False)

    def chunking(self) -> ChunkParams:
        """The store's FastCDC sizes: what :meth:`put_chunks` expects chunks to be cut with."""
        params: ChunkParams = self._ctx.store.config.chunking
        return params

    def put_chunks(
        self,
        repo: str,
        branch: str,
        path: str,
        chunks: Iterable[Chunk],
        *,
        message: str = "",
        commit: str | None = None,
    ) -> CommitInfo:
        """Store one file given as its content-defined chunks, as :meth:`put_stream` stores a stream.

        For content cut elsewhere (a remote client cuts, the server stores): the store
        hashes every chunk itself and keeps the cut points. Each chunk must be 1 to the
        store's ``max_size`` bytes and only the last may be below ``min_size``
        (:func:`storage.chunking.cut_points` cuts so, with the store's sizes:
        :meth:`chunking`); other cuts are refused. Cut with other sizes, the file is stored
        right but deduplicates worse. A chunk must not change once it is passed in.

        Raises:
            InvalidArgument: a chunk of a size the store's cutting would not give.
        """
        p = check_path(path)
        name = p.rsplit("/", 1)[-1]

        def store(base: str | None) -> Entry:
            return files.store_chunks(self._ctx, chunks, name)

        return self._put_stored(repo, branch, p, message, commit, store, is_dir=False)

    def _put_stored(
        self,
        repo: str,
        branch: str,
        p: str,
        message: str,
        commit: str | None,
        store: Callable[[str | None], Entry],
        *,
        is_dir: bool,
    ) -> CommitInfo:
        """Store with ``store(base tree)``, then publish: into ``commit``, or as one new commit.

        A new commit is dated from before the upload began (``started_at``), so the
        open-commit age limit, and with it gc's grace period, covers every object the
        upload wrote (datavc.open_commits).
        """
        msg = message or f"put /{p}"
        repos.inspect_repo(self._ctx, repo)  # a missing repo fails before any byte is stored
        started = now()
        base = self._existing_dir(repo, commit or branch, p) if is_dir else None
        entry = store(base)
        edit = files.edit_merge_dir(p, entry.hash) if is_dir else files.edit_put_entry(p, entry)
        if commit is None:
            return commits.one_shot(self._ctx, repo, branch, edit, message=msg, started_at=started)
        return self._apply(repo, branch, edit, msg, commit)

    def iter_batch(
        self, repo: str, ref: str, path: str = "/", *, max_size: int | None = None
    ) -> Iterator[bytes]:
        """A file, or every file below a directory, as a batch stream (paths relative to ``path``).

        ``max_size`` leaves out files larger than that many bytes.
        """
        snap = files.snapshot(self._ctx, repo, ref)
        p = check_path(path)
        e = files.entry_at(self._ctx, snap, p)
        return batch.batch_entry(self._ctx.store, e, p.rsplit("/", 1)[-1] or snap.repo, max_size)

    def _existing_dir(self, repo: str, ref: str, path: str) -> str | None:
        """The tree id of directory ``path`` at ``ref``, if there is one to merge into."""
        try:
            snap = files.snapshot(self._ctx, repo, ref)
        except (NotFound, InvalidArgument):
            return None  # no such repo, ref or commit (yet): nothing to merge with; _apply says why
        e = self._ctx.store.get_entry(snap.tree, path)
        return e.hash if e is not None and e.is_dir else None

    def _apply(
        self,
        repo: str,
        branch: str,
        edit: commits.TreeEdit,
        message: str,
        commit: str | None,
        metadata: Metadata | None = None,
    ) -> CommitInfo:
        _no_metadata_with_open_commit(metadata, commit)
        if commit is None:
            return commits.one_shot(self._ctx, repo, branch, edit, message=message, metadata=metadata)
        commits.edit_commit(self._ctx, repo, commit, edit)
        return commits.inspect_commit(self._ctx, repo, commit)

    def delete_file(
        self,
        repo: str,
        branch: str,
        paths: str | list[str],
        *,
        message: str = "",
        commit: str | None = None,
        metadata: Metadata | None = None,
    ) -> CommitInfo:
        """Delete files or directories (one new commit, or into the open ``commit``)."""
        plist = [check_path(p) for p in ([paths] if isinstance(paths, str) else paths)]
        if not plist:
            raise InvalidArgument("no paths to delete")
        msg = message or "delete " + ", ".join("/" + p for p in plist)
        return self._apply(repo, branch, files.edit_delete(plist), msg, commit, metadata)

    def copy_file(
        self,
        src_repo: str,
        src_ref: str,
        src_path: str,
        dst_repo: str,
        dst_branch: str,
        dst_path: str,
        *,
        message: str = "",
        commit: str | None = None,
        metadata: Metadata | None = None,
    ) -> CommitInfo:
        """Copy a file or directory, within or between repos, without re-uploading any byte.

        A copy made as its own commit records ``copied_from`` (``repo@commit:/path``) and
        ``copied_to`` in the commit's metadata: ``log --follow`` follows them.
        """
        snap = files.snapshot(self._ctx, src_repo, src_ref)
        entry = files.entry_at(self._ctx, snap, check_path(src_path))
        dst = check_path(dst_path)
        msg = message or f"copy {src_repo}@{src_ref}:/{src_path.strip('/')} to /{dst}"
        if commit is None:
            origin = {
                "copied_from": f"{snap.repo}@{snap.commit}:/{check_path(src_path)}",
                "copied_to": f"/{dst}",
            }
            metadata = {**origin, **(metadata or {})}
        return self._apply(dst_repo, dst_branch, files.edit_put_entry(dst, entry), msg, commit, metadata)

    def get_file(self, repo: str, ref: str, path: str) -> bytes:
        """A file's bytes (for small files; use :meth:`open_file` or :meth:`get_to_path` for large ones)."""
        return self._ctx.store.read_bytes(self._file_entry(repo, ref, path))

    def open_file(self, repo: str, ref: str, path: str) -> BinaryIO:
        """A seekable binary stream over a file's content."""
        return self._ctx.store.open_file(self._file_entry(repo, ref, path))

    def iter_file(
        self, repo: str, ref: str, path: str, start: int = 0, length: int | None = None
    ) -> Iterator[bytes]:
        """A file's bytes (or a byte range) as a stream of pieces; fetches only the objects needed."""
        entry = self._file_entry(repo, ref, path)
        yield from self._ctx.store.iter_content(entry, start, length)

    def _file_entry(self, repo: str, ref: str, path: str) -> Entry:
        """The entry of the regular file ``path`` at ``ref``.

        Raises:
            PathNotFound; InvalidArgument: ``path`` is a directory.
        """
        snap = files.snapshot(self._ctx, repo, ref)
        e = files.entry_at(self._ctx, snap, check_path(path))
        if e.is_dir:
            raise InvalidArgument(f"{repo}@{ref}:/{check_path(path)} is a directory")
        return e

    def get_to_path(
        self,
        repo: str,
        ref: str,
        path: str,
        dest: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> int:
        """Write a file to ``dest``, or a directory's contents under ``dest``; returns files written.

        A file goes into ``dest`` when that is a directory, as ``cp`` does. Nothing is
        written or removed outside ``dest`` (see :mod:`datavc.export`). ``progress`` is
        called with each file's size once it is written.

        Raises:
            AlreadyExists: a directory onto an existing file; InvalidArgument: ``dest``
            cannot be written; Integrity: the stored data is corrupt.
        """
        snap = files.snapshot(self._ctx, repo, ref)
        p = check_path(path)
        e = files.entry_at(self._ctx, snap, p)
        name = p.rsplit("/", 1)[-1] or snap.repo
        return export.export_entry(self._ctx.store, e, dest, name=name, progress=progress)

    def inspect_file(self, repo: str, ref: str, path: str) -> FileInfo:
        """Kind, size, content hash (tree id for a directory) and file count of one path."""
        snap = files.snapshot(self._ctx, repo, ref)
        p = check_path(path)
        return files.file_info(snap, p, files.entry_at(self._ctx, snap, p))

    def list_files(
        self, repo: str, ref: str, path: str = "/", *, recursive: bool = False
    ) -> Iterator[FileInfo]:
        """The entries of a directory (every file below it with ``recursive``), streamed in name order."""
        snap = files.snapshot(self._ctx, repo, ref)
        return files.list_files(self._ctx, snap, check_path(path), recursive=recursive)

    def walk_files(self, repo: str, ref: str, path: str = "/") -> Iterator[FileInfo]:
        """Every file below ``path``, streamed in path order."""
        return self.list_files(repo, ref, path, recursive=True)

    def glob_files(self, repo: str, ref: str, pattern: str) -> Iterator[FileInfo]:
        """Paths matching a glob: ``*``, ``?``, ``[..]`` within a name, ``**`` across directories."""
        return files.glob_files(self._ctx, files.snapshot(self._ctx, repo, ref), pattern)

    def diff(
        self, repo: str, a: str, b: str | None = None, *, b_repo: str | None = None
    ) -> Iterator[DiffInfo]:
        """Changes from ``a`` to ``b``; with no ``b``, from ``a``'s parent to ``a``.

        Cost follows the number of changes, not the size of the commits.
        """
        if b is None:
            new = files.snapshot(self._ctx, repo, a)
            old = files.parent_snapshot(self._ctx, new)
        else:
            old = files.snapshot(self._ctx, repo, a)
            new = files.snapshot(self._ctx, b_repo or repo, b)
        return files.diff_snapshots(self._ctx, old, new)

    def diff_content(
        self,
        repo: str,
        a: str,
        b: str | None = None,
        *,
        b_repo: str | None = None,
        max_bytes: int = 1 << 20,
    ) -> Iterator[ContentDiffInfo]:
        """Like :meth:`diff`, with what changed inside each file: a unified diff for text,
        plus rows and columns added and removed for CSV; files over ``max_bytes`` (either
        side) or binary get sizes only."""
        if max_bytes < 0:
            raise InvalidArgument("max_bytes must not be negative")
        if b is None:
            new = files.snapshot(self._ctx, repo, a)
            old = files.parent_snapshot(self._ctx, new)
        else:
            old = files.snapshot(self._ctx, repo, a)
            new = files.snapshot(self._ctx, b_repo or repo, b)
        return content_diff.content_diffs(self._ctx, old, new, max_bytes=max_bytes)

    # ----- working copies ----------------------------------------------------

    def checkout(
        self,
        repo: str,
        ref: str,
        dir: str | os.PathLike[str],
        *,
        force: bool = False,
        progress: Progress | None = None,
    ) -> CheckoutInfo:
        """Materialise ``repo@ref`` in ``dir``; an existing checkout only gets the files that differ.

        Refuses when the checkout has local changes, unless ``force``.
        """
        return workdir.checkout(self._ctx, repo, ref, dir, force=force, progress=progress)

    def adopt(
        self,
        repo: str,
        branch: str,
        dir: str | os.PathLike[str],
        *,
        message: str = "",
        on_skip: Skipped | None = None,
    ) -> CheckoutInfo:
        """Make an existing directory a working copy of ``repo@branch`` in one pass (see :mod:`datavc.adopt`).

        Its files are hashed, uploaded and indexed, never rewritten; the branch gets a commit
        holding exactly them. Raises BranchMoved if the branch moved meanwhile.
        """
        from datavc.adopt import adopt

        return adopt(self._ctx, repo, branch, dir, message=message, on_skip=on_skip)

    def status(self, dir: str | os.PathLike[str] = ".", *, on_skip: Skipped | None = None) -> StatusInfo:
        """Local changes in a checkout (hashes only files whose size or mtime changed).

        Symbolic links and special files are not tracked: each is reported to
        ``on_skip(path, reason)``. An interrupted checkout is reported as incomplete.
        """
        return workdir.status(self._ctx, dir, on_skip=on_skip)

    def commit_workdir(
        self,
        dir: str | os.PathLike[str] = ".",
        message: str = "",
        *,
        rebase: bool = False,
        on_skip: Skipped | None = None,
        metadata: Metadata | None = None,
    ) -> CommitInfo:
        """Commit a checkout's changes to its branch; refuses if the branch moved, unless ``rebase``.

        Symbolic links are never followed or committed (reported to ``on_skip``); an
        interrupted checkout must be finished first (Conflict).
        """
        return workdir.commit_workdir(
            self._ctx, dir, message, rebase=rebase, on_skip=on_skip, metadata=metadata
        )

    # ----- maintenance -------------------------------------------------------

    def fsck(self) -> FsckInfo:
        """Verify every reachable object (hash and existence) and the metadata's integrity."""
        return _fsck.fsck(self._ctx)

    def repair_objects(self, source: str | os.PathLike[str]) -> RepairInfo:
        """Rewrite damaged (corrupt or missing) objects from the files in ``source``.

        ``source`` is a directory or checkout holding files with the right content:
        files are matched to committed entries by content hash, and an object is written
        only when its bytes, assembled from them, hash to its id.
        """
        from datavc import repair

        return repair.repair(self._ctx, source)

    def gc(
        self,
        *,
        dry_run: bool = False,
        grace: timedelta | None = None,
        force: bool = False,
        upload_max_age: timedelta | None = None,
    ) -> GcInfo:
        """Delete objects no commit uses that are older than ``grace``; safe while others write.

        Also deletes the S3 gateway's multipart uploads untouched for ``upload_max_age``
        (default 24 h, as ``serve``), staged on this host (:mod:`datavc.multipart_uploads`).
        """
        from dataclasses import replace

        from datavc import multipart_uploads

        info = _gc.gc(self._ctx, dry_run=dry_run, grace=grace, force=force)
        where = multipart_uploads.upload_dir(self._ctx.home, self.config.objects, create=False)
        age = upload_max_age or multipart_uploads.DEFAULT_MAX_AGE
        return replace(info, uploads_swept=multipart_uploads.sweep(where, age, dry_run=dry_run))

    # ----- pipelines ---------------------------------------------------------

    def create_pipeline(
        self, spec: PipelineSpec | str | dict[str, Any] | None = None, **fields: Any
    ) -> PipelineInfo:
        """Create a pipeline from a spec (a ``PipelineSpec``, YAML/JSON text or a dict) or from fields.

        With fields: ``create_pipeline(name="wc", input={"pfs": {...}}, transform={"cmd": [...]}, ...)``.
        Its output repo (named after it) is created, and a job over its inputs' current heads is queued.
        """
        return _pl.create_pipeline(self._ctx, _spec(spec, fields))

    def update_pipeline(
        self,
        spec: PipelineSpec | str | dict[str, Any] | None = None,
        *,
        reprocess: bool = False,
        **fields: Any,
    ) -> PipelineInfo:
        """Replace a pipeline's spec (a new version); ``reprocess`` runs every datum again."""
        return _pl.update_pipeline(self._ctx, _spec(spec, fields), reprocess=reprocess)

    def list_pipelines(self) -> list[PipelineInfo]:
        return _pl.list_pipelines(self._ctx)

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        return _pl.inspect_pipeline(self._ctx, name)

    def delete_pipeline(self, name: str) -> None:
        """Delete a pipeline and its job records; its output repo stays."""
        _pl.delete_pipeline(self._ctx, name)

    def stop_pipeline(self, name: str) -> PipelineInfo:
        """No new jobs are triggered or run until :meth:`start_pipeline`."""
        return _pl.set_state(self._ctx, name, "stopped")

    def start_pipeline(self, name: str) -> PipelineInfo:
        return _pl.set_state(self._ctx, name, "running")

    def list_jobs(self, pipeline: str | None = None, limit: int | None = None) -> list[JobInfo]:
        """Jobs, newest first (of one pipeline, or all)."""
        return _pl.list_jobs(self._ctx, pipeline, limit)

    def inspect_job(self, job: str) -> JobInfo:
        """One job (a full id or a unique prefix of 6+ characters)."""
        return _pl.inspect_job(self._ctx, job)

    def wait_job(self, job: str, timeout: float | None = None) -> JobInfo:
        """Block until the job is done."""
        return _pl.wait_job(self._ctx, job, timeout=timeout)

    def list_datums(self, job: str) -> Iterator[DatumInfo]:
        """The job's datums: inputs, state, tries, exit code, duration."""
        return _pl.list_datums(self._ctx, job)

    def job_logs(self, job: str, datum: str | None = None) -> Iterator[tuple[str, str]]:
        """(datum id, logs of its last try) for every datum that ran, or for one datum."""
        return _pl.job_logs(self._ctx, job, datum)

    def preview_datums(self, spec: PipelineSpec | str | dict[str, Any]) -> list[DatumInfo]:
        """The datums ``spec`` would make over its inputs' heads now, without running anything
        (state ``new``, or ``known`` when its pipeline already processed the datum)."""
        from datavc.pipelines.preview import preview_datums

        return preview_datums(self._ctx, _spec(spec, {}))

    def stop_job(self, job: str) -> JobInfo:
        """End a created or running job as ``killed`` (its running datums are killed); see
        :mod:`datavc.pipelines.job_control`. ``kill_job`` is the same call."""
        from datavc.pipelines.job_control import stop_job

        return stop_job(self._ctx, job)

    def kill_job(self, job: str) -> JobInfo:
        """Same as :meth:`stop_job` (pachctl 1.x's name)."""
        return self.stop_job(job)

    def restart_job(self, job: str) -> JobInfo:
        """A new job over an ended job's input commits; datums that succeeded are skipped."""
        from datavc.pipelines.job_control import restart_job

        return restart_job(self._ctx, job)

    def restart_datum(self, job: str, datum: str) -> JobInfo:
        """Run one datum of an ended job again (its remembered result is forgotten), in a new job."""
        from datavc.pipelines.job_control import restart_datum

        return restart_datum(self._ctx, job, datum)

    def follow_job_logs(self, job: str, poll: float = 0.5) -> Iterator[tuple[str, str]]:
        """(datum id, logs) of each datum of ``job`` as it ends, until the job is done.

        Works alike on the direct and remote clients: it polls :meth:`list_datums` and
        :meth:`job_logs` every ``poll`` seconds.
        """
        import time

        shown: set[str] = set()
        while True:
            done = self.inspect_job(job).done  # read first: no datum ending after it is missed
            ended = [d.id for d in self.list_datums(job) if d.state in ("success", "failed")]
            for datum_id in ended:
                if datum_id not in shown:
                    yield from self.job_logs(job, datum_id)
                    shown.add(datum_id)
            if done:
                return
            time.sleep(poll)

    def run(
        self, *, wait_for_others: bool = True, on_job: Callable[[str, str], None] | None = None
    ) -> RunReport:
        """Process pending jobs in this process until none is left; failed jobs are in the report.

        ``on_job(job id, state)`` is called as each job ends.
        """
        from datavc.pipelines.scheduler import run_until_idle

        return run_until_idle(self._ctx, wait_for_others=wait_for_others, on_job=on_job)

    def daemon(self, poll: float = 1.0, on_job: Callable[[str, str], None] | None = None) -> RunReport:
        """Process jobs as they arrive until SIGTERM/SIGINT (the running job finishes first)."""
        from datavc.pipelines.scheduler import daemon

        return daemon(self._ctx, poll=poll, on_job=on_job)

    def wait(self, repo: str, branch: str = "main", timeout: float | None = None) -> list[JobInfo]:
        """Block until every job triggered by ``repo@branch``'s head, transitively downstream, is done."""
        return _pl.wait_commit(self._ctx, repo, branch, timeout=timeout)

    def run_triggered(
        self, since: datetime | None = None, on_job: Callable[[str, str], None] | None = None
    ) -> InlineOutcome:
        """After a change: run pending jobs here if the store runs them inline (``pipelines.run``)
        and no daemon is running; otherwise report the jobs queued since ``since``."""
        from datavc.pipelines import inline

        return inline.run_triggered(self._ctx, since, on_job)

    def pipelines_run_mode(self, value: str | None = None) -> str:
        """The store's ``pipelines.run`` option (``inline`` or ``daemon``); with ``value``, set it."""
        from datavc.pipelines import inline

        return inline.set_run_mode(self._ctx, value) if value is not None else inline.run_mode(self._ctx)

    def inspect_commit_set(self, commit_set: str) -> CommitSetInfo:
        """A commit set (id or a prefix of 6+ characters): its commits and its jobs' states."""
        from datavc.pipelines import commit_sets

        return commit_sets.inspect_commit_set(self._ctx, commit_set)

    def wait_commit_set(self, commit_set: str, timeout: float | None = None) -> CommitSetInfo:
        """Block until no job of the commit set is pending (something else runs them)."""
        from datavc.pipelines import commit_sets

        return commit_sets.wait_commit_set(self._ctx, commit_set, timeout=timeout)

    def lineage(
        self,
        repo: str,
        ref: str = "main",
        path: str | None = None,
        direction: Literal["upstream", "downstream"] = "upstream",
    ) -> LineageInfo:
        """Provenance (upstream) or subvenance (downstream) of a commit; with ``path``, the datum
        and input files one output file came from."""
        return _lineage.lineage(self._ctx, repo, ref, path, direction)

    # ----- rollback ----------------------------------------------------------

    def rollback(
        self,
        repo: str,
        branch: str,
        to: str,
        *,
        message: str | None = None,
        metadata: Metadata | None = None,
        force: bool = False,
    ) -> CommitInfo:
        """A new commit on ``branch`` whose content is ``to``'s; history is kept."""
        return _rollback.rollback(
            self._ctx, repo, branch, to, message=message, metadata=metadata, force=force
        )

    # ----- hooks -------------------------------------------------------------

    def add_hook(
        self,
        repo: str,
        name: str,
        event: str,
        *,
        cmd: Sequence[str] | None = None,
        url: str | None = None,
        branches: str = "*",
        image: str | None = None,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> HookInfo:
        """Declare a ``pre-commit``/``pre-merge`` hook (a command that may refuse the candidate
        commit) or a ``post-commit``/``post-merge`` one (a command or webhook URL that is told);
        see :mod:`datavc.hooks`."""
        return hooks.add_hook(
            self._ctx,
            repo,
            name,
            event,
            cmd=list(cmd) if cmd else None,
            url=url,
            branches=branches,
            image=image,
            timeout=timeout,
            env=dict(env or {}),
        )

    def list_hooks(self, repo: str) -> list[HookInfo]:
        return hooks.list_hooks(self._ctx, repo)

    def delete_hook(self, repo: str, name: str) -> None:
        hooks.delete_hook(self._ctx, repo, name)

    def hook_results(self, repo: str, ref: str) -> list[HookResultInfo]:
        """What the hooks said about the commit ``ref`` names (post-hooks once they have run)."""
        return hooks.results(self._ctx, self.inspect_commit(repo, ref).id)

    # ----- merge, revert, cherry-pick -----------------------------------------

    def merge(
        self, repo: str, source: str, branch: str, *, no_ff: bool = False, **how: Unpack[Resolution]
    ) -> MergeInfo:
        """Merge the commit ``source`` names into ``branch``: three-way at path level against the
        merge base; a fast-forward when ``branch``'s head is an ancestor of it (unless ``no_ff``),
        else a merge commit with two parents.

        Conflicts (a path both sides changed differently, a file/directory clash) refuse the
        merge unless ``strategy`` or a matching ``ours``/``theirs`` glob decides them.
        ``dry_run`` returns what would happen (conflicts included) and writes nothing.
        The keyword options are :class:`~datavc.info.Resolution`'s.

        Raises:
            MergeConflicts: conflicts left undecided (``.conflicts`` lists each with both sides).
        """
        return _merge.merge(self._ctx, repo, source, branch, no_ff=no_ff, **how)

    def cherry_pick(
        self, repo: str, ref: str, branch: str, *, force: bool = False, **how: Unpack[Resolution]
    ) -> MergeInfo:
        """Apply the change ``ref`` made (against its first parent) on ``branch``; conflicts as in merge."""
        return _merge.cherry_pick(self._ctx, repo, ref, branch, force=force, **how)

    def revert(
        self,
        repo: str,
        ref: str,
        branch: str | None = None,
        *,
        force: bool = False,
        **how: Unpack[Resolution],
    ) -> MergeInfo:
        """Apply the inverse of ``ref``'s change on ``branch`` (default: the branch it was made on)."""
        return _merge.revert(self._ctx, repo, ref, branch, force=force, **how)


def _no_metadata_with_open_commit(metadata: Metadata | None, commit: str | None) -> None:
    if metadata and commit is not None:
        raise InvalidArgument(
            "metadata belongs to a commit: give it when starting or finishing the open commit"
        )


def _spec(spec: PipelineSpec | str | dict[str, Any] | None, fields: dict[str, Any]) -> PipelineSpec:
    from datavc.pipelines.spec import PipelineSpec

    if spec is None:
        name = fields.pop("name", None)
        if name is None:
            raise InvalidArgument("a pipeline needs a spec or name=, input=, transform=")
        return PipelineSpec.create(name, fields.pop("input", None), fields.pop("transform", None), **fields)
    if fields:
        raise InvalidArgument("give either a spec or fields, not both")
    if isinstance(spec, PipelineSpec):
        return spec
    return PipelineSpec.parse(spec)


class CommitTransaction:
    """``with client.commit(repo, branch) as tx:`` — writes join one commit, finished at the end."""

    def __init__(
        self, client: Client, repo: str, branch: str, message: str, metadata: Metadata | None = None
    ) -> None:
        self._client = client
        self._metadata = metadata
        self.repo = repo
        self.branch = branch
        self._message = message
        self.info: CommitInfo | None = None

    @property
    def id(self) -> str:
        if self.info is None:
            raise Conflict("the commit has not started: use it in a with-block")
        return self.info.id

    def __enter__(self) -> CommitTransaction:
        self.info = self._client.start_commit(self.repo, self.branch, self._message, metadata=self._metadata)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc_type is None:
            self.info = self._client.finish_commit(self.repo, self.id)
        else:
            self._client.abort_commit(self.repo, self.id)
        return False

    def put_file(self, path: str, src: Source) -> None:
        """Add a file, stream, local file or local directory at ``path`` to this commit."""
        self._client.put_file(self.repo, self.branch, path, src, commit=self.id)

    def delete_file(self, path: str | list[str]) -> None:
        """Delete paths in this commit."""
        self._client.delete_file(self.repo, self.branch, path, commit=self.id)

    def copy_file(self, src_repo: str, src_ref: str, src_path: str, dst_path: str) -> None:
        """Copy from any repo's commit into this commit, without re-uploading."""
        self._client.copy_file(src_repo, src_ref, src_path, self.repo, self.branch, dst_path, commit=self.id)
