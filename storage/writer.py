"""Write batches: files, streams and directories in; entries and trees out.

A :class:`Writer` uploads objects in parallel with a bounded number of bytes in
flight, packs small files together (one object per ``pack_size`` bytes instead of one
per file), skips objects the store already has, and writes tree objects only after
every data object they point to is stored. Nothing it returns may be published
(committed) before the writer has exited without error.

Deduplication heals: an object that "exists" but is damaged is written again. On a
local backend an existing object is verified (its size, then its hash, once per writer)
before it is reused, which costs a read of the reused bytes; a remote backend's HEAD
gives the size only, so a same-size corruption there is left to ``fsck --repair``.

With ``group_sync`` a writer on a local backend flushes nothing per object: every object
it writes (or reuses) is flushed to disk at its next :meth:`Writer.flush` (and so at
``close``), many at once from its threads. Writes stay on the upload threads even so:
on a journaled file system a create or rename can wait behind a journal commit, which
the caller (a datum's executor thread) should not. The durability point is unchanged, the
barrier; a caller that records results after each barrier (a job's datum outputs) pays
one group of flushes per barrier instead of two per object.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from storage import fileio, gcpause, treepack
from storage import index as file_index
from storage.backends.base import Backend
from storage.chunking import SMALL_FILE_LIMIT, ChunkParams, iter_chunks
from storage.errors import InvalidInput, ObjectNotFound, StorageError
from storage.fileio import drop_cached
from storage.hashing import HashAlgorithm, ObjectId
from storage.model import FILE, DataRef, Entry, name_problem, normalize_path, path_problem
from storage.tree import TreeBuilder, Trees, tree_order

_INFLIGHT_BYTES = 48 * 1024 * 1024

#: See :data:`storage.fileio.COLD_AFTER` (a name of its own here: tests lower it for writers).
COLD_AFTER = fileio.COLD_AFTER
#: Bytes of a cold source file read between two drops of its pages.
_DROP_STEP = 64 * 1024 * 1024
_QUEUED_TREE_BYTES = 32 * 1024 * 1024
#: Ids (and small-file hashes) a writer remembers before starting over: ~250 bytes each, so a
#: put of a million files stays well under 500 MiB. Forgetting costs only a re-check.
_INDEX_LIMIT = 200_000
_NEW_STREAK = 8
_PROBE_EVERY = 16


@dataclass(slots=True)
class WriteStats:
    """What a writer stored and what it found already stored."""

    files: int = 0
    objects_written: int = 0
    bytes_written: int = 0
    objects_skipped: int = 0
    bytes_skipped: int = 0
    objects_healed: int = 0  # found damaged or short in the store and written again


class _Pack:
    """Small files gathered for one pack object: their bytes, joined once when it is sealed (a
    growing buffer was re-allocated and copied dozens of times per pack)."""

    __slots__ = ("oid", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.oid: ObjectId | None = None


@dataclass(slots=True)
class _Slot:
    pack: _Pack
    offset: int
    length: int


_Pending = tuple[str, Entry] | tuple[str, str, int, str, _Slot]
#: One chunk of a file: in one buffer, or as pieces to be taken one after the other (as they
#: came off a socket: hashed piece by piece and written with no joined copy on a local store).
Chunk = bytes | memoryview | Sequence[bytes | memoryview]


def chunk_size(chunk: Chunk) -> int:
    if isinstance(chunk, bytes | bytearray | memoryview):
        return len(chunk)
    return sum(len(p) for p in chunk)


#: Called with (local path, reason) for each entry a directory walk does not store.
Skipped = Callable[[str, str], None]


class Writer:
    """One batch of writes to an :class:`~storage.store.ObjectStore`; a context manager.

    It is given what it needs rather than the store (as :class:`Trees` is given functions),
    so the store module may import this one and not the other way round: the backend,
    the hash algorithm and chunking settings of the store, and ``get``, the store's verified
    read of an object.
    """

    def __init__(
        self,
        backend: Backend,
        algorithm: HashAlgorithm,
        chunking: ChunkParams,
        pack_size: int,
        get: Callable[[str], bytes],
        *,
        parallelism: int | None = None,
        group_sync: bool = False,
        pool: ThreadPoolExecutor | None = None,
        inline_writes: bool = False,
        remember: Callable[[str, bytes], None] | None = None,
    ) -> None:
        """``group_sync``: flush objects at each barrier, not one by one (module doc).
        ``pool``: upload threads shared with other writers (the caller shuts it down);
        by default the writer has its own. ``inline_writes`` (local backends): objects are
        written by the calling thread, only the barrier's flushes use the threads: for a
        caller that is a background thread already, storing many tiny objects, a hand-off
        per object cost more than the write (thread wake-ups, lock traffic). ``remember``:
        called with each tree page once it is stored (the store keeps it in its read cache:
        a job's merge of its datums' output trees then reads none of them back)."""
        self.backend = backend
        self.algorithm = algorithm
        self.params = chunking
        self.pack_size = pack_size
        self._get = get
        self.small_limit = min(self.params.min_size, SMALL_FILE_LIMIT)
        #: Whether the upload threads are this writer's own (else a pool shared with other
        #: writers, :meth:`ObjectStore.share_write_threads`, left running at the end).
        self._own_pool = pool is None
        workers = parallelism or (4 if self.backend.cheap_exists else 16)
        self._workers = workers
        self._pool = pool or ThreadPoolExecutor(workers, thread_name_prefix="datavc-put")
        self.group_sync = group_sync
        self._inline = inline_writes and self.backend.cheap_exists
        self._remember = remember
        self._unsynced: list[str] = []  # written or reused since the last barrier (group_sync)
        self._cond = threading.Condition()
        self._inflight = 0
        self._futures: set[Future[None]] = set()
        self._error: BaseException | None = None
        self._known: set[str] = set()
        #: existing objects checked intact by this writer (not checked again)
        self._verified: set[str] = set()
        #: verify existing objects by hash before reusing them (local backends: a cheap read)
        self.verify_existing = self.backend.cheap_exists
        self._pack: _Pack | None = None
        self._small_index: dict[str, _Slot] = {}
        self._queued_trees: dict[str, bytes] = {}
        self._queued_bytes = 0
        #: Early tree writes (not with ``group_sync``): data uploads numbered in order, those
        #: maybe still running; each queued tree with the number of data uploads made before it.
        self._data_seq = 0
        self._data_running: deque[tuple[int, Future[None]]] = deque()
        self._tree_after: deque[tuple[str, int]] = deque()
        #: trees handed to the upload threads before the barrier, until written (for :meth:`_read`)
        self._writing: dict[str, bytes] = {}
        self._closed = False
        self._chunks_seen = 0
        self._new_streak = 0
        self.stats = WriteStats()
        self.trees = Trees(self._read, self._write_tree)
        #: called with the number of bytes each time a piece of input has been taken in
        self.on_progress: Callable[[int], None] | None = None

    # ----- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        """Store everything still buffered and wait until it is durable.

        Raises:
            BackendUnavailable: an upload failed; nothing this writer returned may be used.
        """
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._stop_uploads()

    def abort(self) -> None:
        """Stop without writing queued trees (objects already uploaded stay, unreferenced)."""
        self._closed = True
        self._queued_trees.clear()
        self._tree_after.clear()
        self._stop_uploads()

    def _stop_uploads(self) -> None:
        """Cancel this writer's uploads not yet started and wait for those running."""
        if self._own_pool:
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        pending = list(self._futures)
        for fut in pending:
            fut.cancel()
        wait(pending)

    def flush(self) -> None:
        """A barrier: seal the open pack, wait for data, then write the queued trees."""
        self._seal_pack()
        self._wait()
        queued, self._queued_trees = self._queued_trees, {}
        self._queued_bytes = 0
        self._tree_after.clear()
        self._data_running.clear()
        for oid, data in queued.items():
            self._submit(oid, data, remote_check=False, tree=True)
        self._wait()
        self._writing.clear()
        if self._unsynced:
            self._sync()

    def _sync(self) -> None:
        """The group commit: flush every object written or reused since the last one."""
        with self._cond:
            oids, self._unsynced = self._unsynced, []
        per = max(16, -(-len(oids) // self._workers))
        for i in range(0, len(oids), per):
            fut = self._pool.submit(self.backend.sync, oids[i : i + per])
            self._futures.add(fut)
            fut.add_done_callback(lambda f: self._done(f, 0))
        self._wait()

    def _wait(self) -> None:
        wait(list(self._futures))
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise StorageError("this writer is closed")

    # ----- uploads -----------------------------------------------------------

    def _submit(
        self, oid: str, data: Chunk, *, remote_check: bool, cold: bool = False, tree: bool = False
    ) -> None:
        self._raise_if_failed()
        size = chunk_size(data)
        if oid in self._known:
            self.stats.objects_skipped += 1
            self.stats.bytes_skipped += size
            return
        if len(self._known) > _INDEX_LIMIT:
            self._known.clear()
        self._known.add(oid)
        damaged = False
        if self.backend.cheap_exists:
            state = self._stored(oid, size)
            if state is True:
                self.backend.touch(oid)  # reused: keep a concurrent gc from taking it
                if self.group_sync:  # maybe written unflushed by another writer: flush it too
                    with self._cond:
                        self._unsynced.append(oid)
                if tree and self._remember is not None and isinstance(data, bytes):
                    self._remember(oid, data)
                self.stats.objects_skipped += 1
                self.stats.bytes_skipped += size
                return
            damaged = state is False
        if self._inline:
            self._upload(oid, data, False, damaged, cold, tree)
            return
        with self._cond:
            while self._inflight and self._inflight + size > _INFLIGHT_BYTES:
                self._cond.wait()
            self._inflight += size
        check = remote_check and not self.backend.cheap_exists and self._probe()
        fut = self._pool.submit(self._upload, oid, data, check, damaged, cold, tree)
        self._futures.add(fut)
        fut.add_done_callback(lambda f: self._done(f, size))
        if tree:
            if oid in self._writing:
                fut.add_done_callback(lambda f: self._writing.pop(oid, None))
        else:
            self._data_seq += 1
            running = self._data_running
            while running and running[0][1].done():  # bounded by the uploads in flight, roughly
                running.popleft()
            running.append((self._data_seq, fut))

    def _probe(self) -> bool:
        """Whether to ask a remote backend if a chunk exists before uploading it.

        A HEAD costs a round trip per chunk; when the last few chunks were all new (a new
        file), upload without asking (a PUT of an existing id is harmless) and only probe
        every ``_PROBE_EVERY``-th chunk, until a probe finds one that exists.
        """
        with self._cond:
            self._chunks_seen += 1
            return self._new_streak < _NEW_STREAK or self._chunks_seen % _PROBE_EVERY == 0

    def _stored(self, oid: str, size: int | None) -> bool | None:
        """Whether ``oid`` is stored intact (True), damaged (False) or missing (None).

        ``size`` is the object's length when known (a pack reused by reference has none).
        The hash is checked only with :attr:`verify_existing`; the result is remembered.
        """
        if oid in self._verified:
            return True
        stored = self.backend.size(oid)
        if stored is None:
            return None
        if size is not None and stored != size:
            return False
        if self.verify_existing:
            try:
                data = self.backend.get(oid)
            except ObjectNotFound:
                return None
            if self.algorithm.digest(data) != oid:
                return False
        self._verified.add(oid)
        return True

    def _reusable(self, oid: str, size: int | None) -> bool:
        """Whether an object an earlier tree refers to may be referred to again without writing it."""
        if not self.backend.cheap_exists:
            return True  # trusted: checking would cost a request per object (fsck --repair heals)
        return self._stored(oid, size) is True

    def _upload(
        self,
        oid: str,
        data: Chunk,
        remote_check: bool,
        damaged: bool = False,
        cold: bool = False,
        tree: bool = False,
    ) -> None:
        size = chunk_size(data)
        if damaged:
            self.backend.replace(
                oid, data if isinstance(data, bytes | bytearray | memoryview) else b"".join(data)
            )
            with self._cond:
                self.stats.objects_written += 1
                self.stats.bytes_written += size
                self.stats.objects_healed += 1
            return
        if remote_check:
            stored = self.backend.size(oid)
            found = stored == size
            if stored is not None and not found:
                self._upload(oid, data, False, True)  # a damaged copy: replace it
                return
            if found:
                self.backend.touch(oid)
            with self._cond:
                self._new_streak = 0 if found else self._new_streak + 1
                if found:
                    self.stats.objects_skipped += 1
                    self.stats.bytes_skipped += size
            if found:
                return
        if not isinstance(data, bytes | bytearray | memoryview):
            self.backend.put_pieces(oid, data, synced=not self.group_sync, cold=cold)
        elif self.group_sync:
            self.backend.put_unsynced(oid, data)
        elif cold:
            self.backend.put_cold(oid, data)
        else:
            self.backend.put(oid, data)
        if tree and self._remember is not None and isinstance(data, bytes):
            self._remember(oid, data)
        with self._cond:
            self.stats.objects_written += 1
            self.stats.bytes_written += size
            if self.group_sync:
                self._unsynced.append(oid)

    def _done(self, fut: Future[None], size: int) -> None:
        with self._cond:
            self._inflight -= size
            self._futures.discard(fut)
            exc = fut.exception() if not fut.cancelled() else None
            if exc is not None and self._error is None:
                self._error = exc
            self._cond.notify_all()

    # ----- trees -------------------------------------------------------------

    def _read(self, oid: str) -> bytes:
        data = self._queued_trees.get(oid)
        if data is None:
            data = self._writing.get(oid)
        if data is None:
            data = self._get(oid)
            self._known.add(oid)  # it exists: writing the same page again can be skipped
        return data

    def _write_tree(self, data: bytes) -> ObjectId:
        oid = self.algorithm.digest(data)
        if oid in self._known or oid in self._queued_trees:
            return oid
        if self._pack is None and not self._futures and not self._queued_trees:
            self._submit(oid, data, remote_check=False, tree=True)
            return oid
        self._queued_trees[oid] = data
        self._queued_bytes += len(data)
        if self._queued_bytes > _QUEUED_TREE_BYTES:
            self.flush()
        elif not self.group_sync:
            self._tree_after.append((oid, self._data_seq))
            self._release_trees()
        return oid

    def _release_trees(self) -> None:
        """Write the queued trees whose data is all stored now, not at the barrier.

        A tree refers only to data handed to the upload threads before the tree was made
        (an entry is returned once its objects are submitted), so it may be written as soon
        as every data upload numbered up to then has finished: a put whose trees are built
        as its files arrive (:func:`datavc.batch.store_batch`) then has few left to write at
        the end. With ``group_sync`` data is durable only at the barrier: trees wait for it.
        """
        running = self._data_running
        while running and running[0][1].done():
            running.popleft()
        below = running[0][0] if running else self._data_seq + 1
        after = self._tree_after
        while after and after[0][1] < below:
            oid, _ = after.popleft()
            data = self._queued_trees.pop(oid, None)
            if data is None:
                continue
            self._queued_bytes -= len(data)
            self._writing[oid] = data
            self._submit(oid, data, remote_check=False, tree=True)

    def empty_tree(self) -> ObjectId:
        return self.trees.empty()

    def build_tree(
        self, files: Iterable[tuple[str, Entry]], *, sort: bool = False, normalized: bool = False
    ) -> ObjectId:
        """A tree of ``(path, entry)`` pairs, streamed; pairs must come in tree order unless ``sort``.

        ``normalized``: the paths are already normalized and checked (:func:`normalize_path`),
        as :meth:`iter_put_streams` with ``normalized`` gives them; they are not checked again.
        """
        pairs = sorted(files, key=lambda pe: tree_order(pe[0])) if sort else files
        builder = TreeBuilder(self.trees)
        if normalized:
            for path, entry in pairs:
                builder.add(path, entry)
        else:
            for path, entry in pairs:
                builder.add(normalize_path(path), entry)
        return builder.finish()

    def update_tree(self, root: str, changes: Mapping[str, Entry | None]) -> str:
        """``root`` with path-level changes applied (None deletes a file or directory)."""
        normalized: dict[str, Entry | None] = {}
        for path, entry in changes.items():
            p = normalize_path(path)
            if not p:
                raise InvalidInput("cannot put or delete the root directory itself")
            normalized[p] = entry
        return self.trees.update(root, normalized)

    # ----- files -------------------------------------------------------------

    def put_bytes(self, data: bytes, name: str = "") -> Entry:
        """Store ``data`` as one file; returns its entry."""
        import io

        # Bytes in memory have no file whose pages could be dropped: no descriptor to look for.
        return self._put_cut(iter_chunks(io.BytesIO(data), self.params), name, frozenset(), None)

    def put_stream(self, stream: BinaryIO, name: str = "", *, known: frozenset[str] = frozenset()) -> Entry:
        """Store a stream's content (read to its end, a window at a time) as one file.

        ``known`` are object ids already stored (say, an earlier version's chunks): they
        are not uploaded or checked again.
        """
        return self._put_cut(iter_chunks(stream, self.params), name, known, _regular_fd(stream))

    def put_chunks(self, chunks: Iterable[Chunk], name: str = "") -> Entry:
        """Store one file given as its chunks, cut by someone else (a client of a server).

        The cut points are taken as given, the ids are not: each chunk is hashed here. A
        chunk must be 1 to ``max_size`` bytes, and only the last may be shorter than
        ``min_size`` (as FastCDC cuts), so bad cuts can cost dedup but never make
        objects larger, or more numerous, than a stream of that length would. A chunk
        passed here must not change afterwards (it may be written after this returns a
        chunk later).

        Raises:
            InvalidInput: a chunk of a size FastCDC would not cut (nothing is committed:
                the objects already written are garbage until gc).
        """
        return self._put_cut(self._checked_cuts(chunks), name, frozenset(), None)

    def _checked_cuts(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        short: int | None = None
        for chunk in chunks:
            n = chunk_size(chunk)
            if short is not None:
                raise InvalidInput(
                    f"a chunk of {short} bytes (below the minimum of {self.params.min_size}) "
                    "was not the file's last"
                )
            if not 0 < n <= self.params.max_size:
                raise InvalidInput(f"a chunk of {n} bytes (chunks are 1 to {self.params.max_size} bytes)")
            if n < self.params.min_size:
                short = n
            yield chunk

    def _put_cut(
        self, chunks: Iterable[Chunk], name: str, known: frozenset[str], source: int | None
    ) -> Entry:
        """Store ``chunks`` as one file; ``source``: the descriptor of the regular file they are
        read from (its pages are dropped past :data:`COLD_AFTER`), if any."""
        hasher = self.algorithm.new()
        refs: list[DataRef] = []
        builder: file_index.IndexBuilder | None = None  # once the refs outgrow an inline entry
        size = 0
        dropped = COLD_AFTER  # the source's pages are dropped from here on, as it is read
        for chunk in chunks:
            if isinstance(chunk, bytes | bytearray | memoryview):
                n = len(chunk)
                hasher.update(chunk)
                oid = self.algorithm.digest(chunk)
            else:
                one = self.algorithm.new()
                n = 0
                for piece in chunk:
                    one.update(piece)
                    hasher.update(piece)
                    n += len(piece)
                oid = ObjectId(one.hexdigest())
            if builder is not None:
                builder.add(DataRef(oid, 0, n))
            else:
                refs.append(DataRef(oid, 0, n))
                if len(refs) > file_index.INLINE_MAX:
                    # index pages are queued behind the data they point to, as trees are
                    builder = file_index.IndexBuilder(self._write_tree)
                    for r in refs:
                        builder.add(r)
                    refs = []
            size += n
            if source is not None and size - dropped >= _DROP_STEP:
                drop_cached(source, dropped, size - dropped)
                dropped = size
            if self.on_progress is not None:
                self.on_progress(n)
            if oid in known and self._reusable(oid, n):
                self.stats.objects_skipped += 1
                self.stats.bytes_skipped += n
            else:
                self._submit(oid, chunk, remote_check=True, cold=size > COLD_AFTER)
        self.stats.files += 1
        if builder is not None:
            return Entry(name, FILE, size, hasher.hexdigest(), (), 1, builder.finish())
        return Entry(name, FILE, size, hasher.hexdigest(), tuple(refs))

    def put_file(self, path: str | os.PathLike[str], name: str | None = None) -> Entry:
        """Store a local file (following symbolic links).

        Raises:
            InvalidInput: missing, unreadable, a directory or special file, a broken link.
        """
        p = os.fspath(path)
        st = _stat(p)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"{p}: not a regular file")
        f = _open(p)
        with f:
            return self.put_stream(f, name if name is not None else os.path.basename(p))

    def put_dir(
        self,
        path: str | os.PathLike[str],
        base: str | None = None,
        *,
        follow_symlinks: bool = True,
        on_skip: Skipped | None = None,
    ) -> str:
        """Store a local directory and return its tree id.

        ``base`` is an earlier tree of the same directory: files whose content it
        already has keep their data refs without being stored again. Symbolic links are
        never followed out of ``path``: with ``follow_symlinks`` a link that resolves
        inside ``path`` is stored as what it points to, and one leading outside is
        skipped; with ``follow_symlinks=False`` (for untrusted directories such as a
        transform's output, or a user's put) every link and special file is skipped.
        Each skipped entry is reported to ``on_skip(path, reason)``.
        """
        builder = TreeBuilder(self.trees)
        with gcpause.paused():  # millions of acyclic tuples: see storage.gcpause
            for rel, entry in self.iter_put_dir(path, base, follow_symlinks=follow_symlinks, on_skip=on_skip):
                builder.add(rel, entry)
            return builder.finish()

    def iter_put_dir(
        self,
        path: str | os.PathLike[str],
        base: str | None = None,
        *,
        follow_symlinks: bool = True,
        on_skip: Skipped | None = None,
    ) -> Iterator[tuple[str, Entry]]:
        """Store every file below a local directory; yields (relative path, entry) in tree order.

        Small files are packed together; their entries are yielded once their pack is
        sealed. Raises :class:`InvalidInput` for symlink loops, broken links (when
        following links), special files (idem), unreadable files and names that are not UTF-8.
        """
        entries = self.iter_put_dir_stat(path, base, follow_symlinks=follow_symlinks, on_skip=on_skip)
        for rel, entry, _st, _at in entries:
            yield rel, entry

    def iter_put_dir_stat(
        self,
        path: str | os.PathLike[str],
        base: str | None = None,
        *,
        follow_symlinks: bool = True,
        on_skip: Skipped | None = None,
        leave_out: str | None = None,
    ) -> Iterator[tuple[str, Entry, os.stat_result, int]]:
        """:meth:`iter_put_dir`, each file with the ``stat`` taken before it was read and its
        position in its directory's ``scandir`` listing: ``(path, entry, stat, position)``.

        What an index of the directory records (adopt): a file changed after that ``stat``
        has another mtime by the time anyone compares, so the row cannot vouch for bytes it
        did not see. The size read may differ from ``st_size`` when the file changed. The
        position orders a directory's row as ``scandir`` lists it, with no second listing.
        ``leave_out`` names an entry of the top directory that is not walked (adopt's own
        index directory).
        """
        top = os.fspath(path)
        st = _stat(top)
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidInput(f"{top}: not a directory")
        # The real path bounds the links followed; without following none is needed.
        walk = _WalkPolicy(os.path.realpath(top) if follow_symlinks else top, follow_symlinks, on_skip)
        pending: deque[tuple[_Pending, os.stat_result, int]] = deque()
        for item in self._walk(top, "", base, frozenset({(st.st_dev, st.st_ino)}), walk, leave_out):
            pending.append(item)
            while pending and _ready(pending[0][0]):
                done, file_st, at = pending.popleft()
                yield (*_resolve(done), file_st, at)
        self._seal_pack()
        while pending:
            done, file_st, at = pending.popleft()
            yield (*_resolve(done), file_st, at)

    def _walk(
        self,
        dirpath: str,
        prefix: str,
        base: str | None,
        ancestors: frozenset[tuple[int, int]],
        walk: _WalkPolicy,
        leave_out: str | None = None,
    ) -> Iterator[tuple[_Pending, os.stat_result, int]]:
        try:
            with os.scandir(dirpath) as it:
                listed = list(it)
        except OSError as err:
            raise InvalidInput(f"cannot read directory {dirpath}: {err.strerror}") from err
        names = [d.name for d in listed]
        if leave_out is not None and leave_out in names:
            del listed[names.index(leave_out)]
            names.remove(leave_out)
        prior_iter = self.trees.iter_dir(base) if base else iter(())
        prior = next(prior_iter, None)
        for at in sorted(range(len(listed)), key=names.__getitem__):  # name order; ``at`` as listed
            child = listed[at]
            if child.is_symlink() and not walk.may_follow(child.path):
                continue
            name = child.name
            problem = name_problem(name) or path_problem(prefix + name)
            if problem is not None:  # also bounds this recursion: no path deeper than MAX_DEPTH
                raise InvalidInput(f"{os.fsencode(child.path)!r}: {problem}")
            st = _stat(child.path)
            while prior is not None and prior.name < name:
                prior = next(prior_iter, None)
            same = prior if prior is not None and prior.name == name else None
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    raise InvalidInput(f"{child.path}: symbolic link loop (it leads back to a parent)")
                sub_base = same.hash if same is not None and same.is_dir else None
                yield from self._walk(child.path, prefix + name + "/", sub_base, ancestors | {key}, walk)
            elif stat.S_ISREG(st.st_mode):
                yield self._put_local(child.path, prefix + name, name, st.st_size, same), st, at
            elif not walk.follow:
                walk.skip(child.path, "not a regular file or directory")
            else:
                raise InvalidInput(f"{child.path}: not a regular file or directory")

    def iter_put_streams(
        self,
        items: Iterable[tuple[str, int, BinaryIO | bytes]],
        base: str | None = None,
        *,
        normalized: bool = False,
    ) -> Iterator[tuple[str, Entry]]:
        """Store files given as ``(relative path, size, stream)``; yields (path, entry) in input order.

        The batch counterpart of :meth:`iter_put_dir` for files that arrive over a wire
        (one batch stream of many files): small files are packed together the same way, and
        ``base`` (an earlier tree) lets unchanged files keep their data refs. Each stream
        is read to its end before the next item is taken, so items may share one
        underlying stream. ``size`` only picks the small or large path; the stored size is
        what the stream gave. A small file's content may come as its bytes instead of a stream.

        ``normalized``: the caller already normalized and checked each path
        (:func:`normalize_path`, non-empty); the yielded paths are then the given ones, which
        :meth:`build_tree` with ``normalized`` takes as they are. Otherwise each is checked
        here and the yielded path is the given one, unnormalized.

        Raises:
            InvalidInput: a path the store refuses.
        """
        pending: deque[_Pending] = deque()
        for rel, size, stream in items:
            if normalized:
                p = rel
            else:
                p = normalize_path(rel)
                problem = path_problem(p) if p else "empty"
                if problem is not None:
                    raise InvalidInput(f"{rel[:200]!r}: {problem}")
            name = p.rsplit("/", 1)[-1]
            prior = self.trees.get(base, p) if base else None
            if isinstance(stream, bytes):
                pending.append(self._put_data(stream, rel, name, prior))
            else:
                pending.append(self._put_opened(stream, rel, p, name, size, prior))
            while pending and _ready(pending[0]):
                yield _resolve(pending.popleft())
        self._seal_pack()
        while pending:
            yield _resolve(pending.popleft())

    def put_file_sets(
        self, sets: Iterable[Iterable[tuple[str, bytes]]], *, tree_pack: bool = False
    ) -> tuple[list[ObjectId], ObjectId | None]:
        """Store several small directories given in memory; one tree id per set, in order.

        Each set is ``(relative path, content)`` pairs in any order. The small files of all
        sets go into shared packs (one pack for many directories rather than one each, the
        point: a job's many tiny datum outputs), large ones are chunked as usual.

        ``tree_pack``: each set's root tree page goes into one tree pack
        (:mod:`storage.treepack`) rather than an object of its own; the pack's id is
        returned with the trees (None when nothing was packed). The caller must record
        which pack holds those pages (the store's ``tree_locator`` answers from that).

        Raises:
            InvalidInput: a path the store refuses, or the same path twice in one set.
        """
        import io

        staged: list[list[_Pending]] = []
        for files in sets:
            items: list[_Pending] = []
            seen: set[str] = set()
            for rel, data in files:
                p = normalize_path(rel)
                problem = path_problem(p) if p else "empty"
                if problem is None and p in seen:
                    problem = "given twice"
                if problem is not None:
                    raise InvalidInput(f"{rel[:200]!r}: {problem}")
                seen.add(p)
                name = p.rsplit("/", 1)[-1]
                items.append(self._put_opened(io.BytesIO(data), rel, p, name, len(data), None))
            staged.append(items)
        self._seal_pack()
        if not tree_pack:
            return [self.build_tree((_resolve(i) for i in items), sort=True) for items in staged], None
        return self._packed_trees(staged)

    def _packed_trees(self, staged: list[list[_Pending]]) -> tuple[list[ObjectId], ObjectId | None]:
        """``put_file_sets`` with each set's root page in one tree pack (others stored as usual)."""
        built: list[tuple[str, bytes]] = []

        def collect(data: bytes) -> ObjectId:
            oid = self.algorithm.digest(data)
            built.append((oid, data))
            return oid

        trees = Trees(self._read, collect)
        roots: list[ObjectId] = []
        packed: dict[str, bytes] = {}
        for items in staged:
            builder = TreeBuilder(trees)
            for path, entry in sorted((_resolve(i) for i in items), key=lambda pe: tree_order(pe[0])):
                builder.add(normalize_path(path), entry)
            root = builder.finish()
            for oid, data in built:  # pages below the root (large sets): objects as usual
                if oid == root:
                    packed.setdefault(oid, data)
                elif oid not in packed:
                    self._write_tree(data)
            built.clear()
            roots.append(root)
        if not packed:
            return roots, None
        pack = treepack.encode(list(packed.values()))
        pack_id = self.algorithm.digest(pack)
        self._submit(pack_id, pack, remote_check=False)
        if self._remember is not None:  # the job's merge reads these right back
            for oid, data in packed.items():
                self._remember(oid, data)
        return roots, pack_id

    def _put_local(self, path: str, rel: str, name: str, size: int, prior: Entry | None) -> _Pending:
        if size < self.small_limit:
            return self._put_data(_read_small(path, size), rel, name, prior)
        f = _open(path)
        with f:
            return self._put_opened(f, path, rel, name, size, prior)

    def _put_opened(
        self, f: BinaryIO, path: str, rel: str, name: str, size: int, prior: Entry | None
    ) -> _Pending:
        """Store one open file: large ones chunked, small ones into the current pack."""
        if size >= self.small_limit:
            prior_refs = self.trees.iter_refs(prior) if prior is not None else ()
            known = frozenset(r.oid for r in prior_refs)
            return rel, self.put_stream(f, name, known=known)
        try:
            data = f.read()
        except OSError as err:
            raise InvalidInput(f"cannot read {path}: {err.strerror}") from err
        return self._put_data(data, rel, name, prior)

    def _put_data(self, data: bytes, rel: str, name: str, prior: Entry | None) -> _Pending:
        """Store a small file's bytes in the current pack (or keep ``prior``, when it holds them)."""
        self.stats.files += 1
        if self.on_progress is not None:
            self.on_progress(len(data))
        h = self.algorithm.digest(data)
        if (
            prior is not None
            and not prior.is_dir
            and prior.hash == h
            and prior.size == len(data)
            and not prior.index
            and all(self._reusable(r.oid, None) for r in prior.refs)
        ):
            self.stats.bytes_skipped += len(data)
            return rel, prior
        if not data:
            return rel, Entry(name, FILE, 0, h)
        return rel, name, len(data), h, self._add_small(data, h)

    def _add_small(self, data: bytes, h: str) -> _Slot:
        slot = self._small_index.get(h)
        if slot is not None:
            self.stats.bytes_skipped += len(data)
            return slot
        if self._pack is None:
            self._pack = _Pack()
        pack = self._pack
        slot = _Slot(pack, pack.size, len(data))
        pack.parts.append(data)
        pack.size += len(data)
        if len(self._small_index) > _INDEX_LIMIT:
            self._small_index.clear()
        self._small_index[h] = slot
        if pack.size >= self.pack_size:
            self._seal_pack()
        return slot

    def _seal_pack(self) -> None:
        pack, self._pack = self._pack, None
        if pack is None or not pack.size:
            return
        data = b"".join(pack.parts)
        pack.parts = []
        pack.oid = self.algorithm.digest(data)
        self._submit(pack.oid, data, remote_check=False)
        if self._tree_after:
            self._release_trees()


@dataclass(frozen=True, slots=True)
class _WalkPolicy:
    """How a directory walk treats symbolic links: never out of ``root``."""

    root: str  # the real path of the directory being put
    follow: bool
    on_skip: Skipped | None

    def skip(self, path: str, reason: str) -> None:
        if self.on_skip is not None:
            self.on_skip(path, reason)

    def may_follow(self, link: str) -> bool:
        """Whether to follow ``link``; a link not followed is reported as skipped."""
        if not self.follow:
            self.skip(link, "symbolic link (not followed; links are not stored)")
            return False
        if not os.path.exists(link):
            return True  # dangling or a loop: the stat that follows says which, as an error
        real = os.path.realpath(link)
        if os.path.commonpath([self.root, real]) != self.root:
            self.skip(link, "symbolic link leading outside the source (not followed)")
            return False
        return True


def _ready(item: _Pending) -> bool:
    return len(item) == 2 or item[4].pack.oid is not None


def _resolve(item: _Pending) -> tuple[str, Entry]:
    if len(item) == 2:
        return item
    rel, name, size, h, slot = item
    assert slot.pack.oid is not None
    return rel, Entry(name, FILE, size, h, (DataRef(slot.pack.oid, slot.offset, slot.length),))


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError as err:
        if os.path.islink(path):
            raise InvalidInput(f"{path}: broken symbolic link") from err
        raise InvalidInput(f"{path}: no such file or directory") from err
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise InvalidInput(f"{path}: symbolic link loop") from err
        raise InvalidInput(f"cannot read {path}: {err.strerror}") from err


def _read_small(path: str, size: int) -> bytes:
    """The bytes of a small file whose ``stat`` said ``size``: one open, one read, one close.

    (``open().read()`` costs two more ``fstat`` calls and a read at the end of the file: at a
    million files those syscalls are seconds.) A file that grew since the stat is read to
    its end, as ``read()`` would.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise InvalidInput(f"cannot read {path}: {err.strerror}") from err
    try:
        data = os.read(fd, size + 1)
        if len(data) > size:
            rest = [data]
            while block := os.read(fd, 1 << 20):
                rest.append(block)
            data = b"".join(rest)
        return data
    except OSError as err:
        raise InvalidInput(f"cannot read {path}: {err.strerror}") from err
    finally:
        os.close(fd)


def _regular_fd(stream: BinaryIO) -> int | None:
    """The descriptor of ``stream`` when it reads a regular file (whose pages may be dropped)."""
    try:
        fd = stream.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb", buffering=0)
    except OSError as err:
        raise InvalidInput(f"cannot read {path}: {err.strerror}") from err


__all__ = ["Path", "Skipped", "WriteStats", "Writer"]
