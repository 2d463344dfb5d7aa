"""The object store: content-addressed, verified, deduplicated files and trees over any backend.

:class:`ObjectStore` reads (every object is verified against its id) and opens
:class:`~storage.writer.Writer` batches for writing. Its configuration (hash
algorithm, chunk sizes) is written into the backend at :meth:`ObjectStore.init` and
checked at :meth:`ObjectStore.open`.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storage import fileio, treepack
from storage.backends import open_backend
from storage.backends.base import Backend
from storage.chunking import DEFAULT_PARAMS, ChunkParams
from storage.errors import CorruptObject, InvalidInput, ObjectNotFound, StoreConfigError
from storage.fileio import atomic_write
from storage.hashing import XXH3_128, HashAlgorithm, ObjectId
from storage.model import DataRef, DiffEntry, Entry, normalize_path
from storage.prefetch import REMOTE_WINDOW, fetch_in_order, read_window
from storage.tree import Trees, is_tree_object

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from storage.writer import Writer

CONFIG_NAME = "datavc-store.json"
FORMAT = "datavc-objects"
VERSION = 1
DEFAULT_PACK_SIZE = 4 * 1024 * 1024
_OBJECT_CACHE_BYTES = 64 * 1024 * 1024
_PACK_INDEXES = 256  # tree packs whose index is kept (a few KiB each)
#: Objects a file read on a local store keeps ahead of its consumer (on one thread).
LOCAL_AHEAD = 2


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """What a store records about itself at init."""

    algorithm: str = XXH3_128
    chunking: ChunkParams = DEFAULT_PARAMS
    pack_size: int = DEFAULT_PACK_SIZE

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "hash": self.algorithm,
            "chunking": self.chunking.as_dict(),
            "pack_size": self.pack_size,
        }
        return json.dumps(doc, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> StoreConfig:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format is {doc.get('format')!r}")
            if int(doc["version"]) > VERSION:
                raise StoreConfigError(
                    f"store at {where} has format version {doc['version']}; this datavc reads up to {VERSION}"
                )
            return cls(str(doc["hash"]), ChunkParams.from_dict(doc["chunking"]), int(doc["pack_size"]))
        except StoreConfigError:
            raise
        except (ValueError, KeyError, TypeError) as err:
            raise StoreConfigError(f"store configuration at {where} is unreadable: {err}") from err


@dataclass(slots=True)
class FsckReport:
    """What :meth:`ObjectStore.fsck` found."""

    checked: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.missing


class ObjectStore:
    """Reads verified objects, files and trees; writes through :meth:`writer`."""

    def __init__(self, backend: Backend, config: StoreConfig) -> None:
        self.backend = backend
        self.config = config
        self.algorithm = HashAlgorithm(config.algorithm)
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_bytes = 0
        self._lock = threading.Lock()
        self.trees = Trees(self.get_object, self._no_write)
        #: Object fetches kept in flight by a file read: a remote endpoint serves many at
        #: once; a local disk is read one object at a time (the page cache reads ahead).
        self.read_window = 1 if backend.cheap_exists else read_window(config.chunking)
        self._pool: ThreadPoolExecutor | None = None
        self._write_pool: ThreadPoolExecutor | None = None
        #: Which tree pack (:mod:`storage.treepack`) holds a tree page that is not an object
        #: of its own (None: unknown); set by the owner of the store's metadata (datavc).
        self.tree_locator: Callable[[str], str | None] | None = None
        self._packs: dict[str, dict[str, tuple[int, int]]] = {}  # pack id -> its index

    # ----- lifecycle ---------------------------------------------------------

    @classmethod
    def init(
        cls,
        target: Backend | str | os.PathLike[str],
        *,
        algorithm: str = XXH3_128,
        chunking: ChunkParams | None = None,
        pack_size: int = DEFAULT_PACK_SIZE,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> ObjectStore:
        """Create a store (or open an existing one with the same algorithm).

        Raises:
            StoreConfigError: a store is already there with a different hash algorithm.
        """
        HashAlgorithm(algorithm)  # validate the name before writing anything
        backend = _backend(target, cache_dir, algorithm)
        existing = backend.read_meta(CONFIG_NAME)
        if existing is not None:
            cfg = StoreConfig.from_json(existing, backend.url)
            if cfg.algorithm != algorithm:
                raise StoreConfigError(
                    f"a store using {cfg.algorithm} already exists at {backend.url}; "
                    f"cannot re-init it with {algorithm}"
                )
            return cls(backend, cfg)
        cfg = StoreConfig(algorithm, chunking or DEFAULT_PARAMS, pack_size)
        backend.write_meta(CONFIG_NAME, cfg.to_json())
        return cls(backend, cfg)

    @classmethod
    def open(
        cls,
        target: Backend | str | os.PathLike[str],
        *,
        algorithm: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> ObjectStore:
        """Open an existing store, checking its recorded hash algorithm.

        Raises:
            StoreConfigError: no store there, or it uses another algorithm than ``algorithm``.
        """
        backend = _backend(target, None, None)
        data = backend.read_meta(CONFIG_NAME)
        if data is None:
            raise StoreConfigError(f"no object store at {backend.url} (create one with init)")
        cfg = StoreConfig.from_json(data, backend.url)
        if algorithm is not None and algorithm != cfg.algorithm:
            raise StoreConfigError(f"store at {backend.url} uses {cfg.algorithm}, not {algorithm}")
        if cache_dir is not None:
            backend = _backend(backend, cache_dir, cfg.algorithm)
        return cls(backend, cfg)

    def close(self) -> None:
        with self._lock:
            pools, self._pool, self._write_pool = (self._pool, self._write_pool), None, None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self.backend.close()

    def share_write_threads(self, workers: int | None = None) -> None:
        """Let every later :meth:`writer` upload on one pool of threads, kept for the store's life.

        For a server, which stores each upload request with its own writer: a writer
        otherwise starts its upload threads (``workers``, by default what one writer
        uses) and joins them at its end, and a put of 20 files over HTTP started and
        joined 80 threads; under load each start waited for the new thread to be scheduled.
        Each writer still bounds its own bytes in flight. ``workers`` defaults to twice
        what one writer has (several requests store at once).
        """
        with self._lock:
            if self._write_pool is None:
                from concurrent.futures import ThreadPoolExecutor  # here: a listing never needs it

                n = workers or (8 if self.backend.cheap_exists else 32)
                self._write_pool = ThreadPoolExecutor(n, thread_name_prefix="datavc-put")

    def _read_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                # Several files are read at once (an export), each with its own window: the
                # pool bounds the requests running in all, as a raw parallel GET would. On a
                # local store a few threads, so concurrent readers (a server's requests) do
                # not queue behind one another's read-ahead.
                from concurrent.futures import ThreadPoolExecutor  # here: a listing never needs it

                workers = max(self.read_window, REMOTE_WINDOW) if self.read_window > 1 else 4
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="datavc-read")
            return self._pool

    def __enter__(self) -> ObjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def writer(
        self,
        *,
        parallelism: int | None = None,
        group_sync: bool = False,
        pool: ThreadPoolExecutor | None = None,
        inline_writes: bool = False,
    ) -> Writer:
        """A write batch: use as a context manager; everything is durable when it exits.

        ``group_sync``, ``pool`` and ``inline_writes``: see :class:`~storage.writer.Writer`
        (objects flushed at each barrier together; upload threads shared between writers;
        objects written by the calling thread).
        """
        from storage.writer import Writer  # not on read paths: a listing starts faster

        return Writer(
            self.backend,
            self.algorithm,
            self.config.chunking,
            self.config.pack_size,
            self.get_object,
            parallelism=parallelism,
            group_sync=group_sync,
            inline_writes=inline_writes,
            remember=self._cache_put,
            pool=pool if pool is not None else (self._write_pool if parallelism is None else None),
        )

    # ----- objects -----------------------------------------------------------

    def get_object(self, oid: str, *, cache: bool = True, keep: bool = True, cold: bool = False) -> bytes:
        """An object's bytes, verified against its id.

        Args:
            cache: whether a read-through cache may keep a copy. A reader that writes the
                bytes to local disk anyway (a checkout, ``get -o``) passes False, so a cold
                read does not write every byte twice; small objects (trees) are still cached.
            keep: whether this process's in-memory cache may keep the bytes. A large
                file's chunks are read once each: keeping them would hold 64 MiB that
                nobody reads again, and a 20 GiB ``get -o`` peaked above 200 MiB.
            cold: a chunk of a large file past :data:`~storage.fileio.COLD_AFTER`, read
                once: fetched with :meth:`Backend.get_cold` (past the page cache).

        Raises:
            ObjectNotFound, CorruptObject, BackendUnavailable
        """
        return self._get_object(oid, cache, keep, packed=True, cold=cold)

    def _get_object(self, oid: str, cache: bool, keep: bool, *, packed: bool, cold: bool = False) -> bytes:
        """``get_object``; ``packed``: a page missing as an object may come from a tree pack."""
        with self._lock:
            data = self._cache.get(oid)
            if data is not None:
                self._cache.move_to_end(oid)
                return data
        if not self.algorithm.is_id(oid):
            raise InvalidInput(f"{oid!r} is not an object id")
        if cold:
            data = self.backend.get_cold(oid)  # a chunk of a large file: never a tree page
        else:
            try:
                data = self.backend.get(oid) if cache else self.backend.get_transient(oid)
            except ObjectNotFound:
                page = self._packed_page(oid) if packed else None
                if page is None:
                    raise
                data = page
        actual = self.algorithm.digest(data)
        if actual != oid:
            raise CorruptObject(oid, actual, self.backend.url)
        if keep:
            self._cache_put(oid, data)
        return data

    def _packed_page(self, oid: str) -> bytes | None:
        """Tree page ``oid`` from the tree pack the locator names; None when none does."""
        pack = self.tree_locator(oid) if self.tree_locator is not None else None
        if pack is None:
            return None
        data = self._get_object(pack, True, True, packed=False)  # a pack is never in a pack
        with self._lock:
            pages = self._packs.get(pack)
        if pages is None:
            pages = treepack.index(data, self.algorithm.digest, pack)
            with self._lock:
                if len(self._packs) >= _PACK_INDEXES:
                    self._packs.clear()
                self._packs[pack] = pages
        where = pages.get(oid)
        if where is None:
            return None
        return data[where[0] : where[0] + where[1]]

    def _cache_put(self, oid: str, data: bytes) -> None:
        """Keep ``data`` (verified, or just written by a writer of this store) for reads of ``oid``."""
        with self._lock:
            if oid not in self._cache and len(data) <= _OBJECT_CACHE_BYTES // 8:
                self._cache[oid] = data
                self._cache_bytes += len(data)
                while self._cache_bytes > _OBJECT_CACHE_BYTES:
                    _, old = self._cache.popitem(last=False)
                    self._cache_bytes -= len(old)

    def _no_write(self, data: bytes) -> ObjectId:
        raise RuntimeError("trees are written through ObjectStore.writer()")

    # ----- files -------------------------------------------------------------

    def iter_content(
        self, entry: Entry, start: int = 0, length: int | None = None, *, cache: bool = True
    ) -> Iterator[bytes]:
        """A file's bytes (or the range ``[start, start+length)``), fetching only the objects needed.

        A whole-file read also checks the file's content hash. On a remote backend up to
        :attr:`read_window` objects are fetched ahead in parallel (see :mod:`storage.prefetch`);
        on a local one, :data:`LOCAL_AHEAD` on one thread.

        Args:
            cache: see :meth:`get_object`.

        Raises:
            InvalidInput: a directory entry or a range outside the file.
            CorruptObject: an object, or the file as a whole, does not match its hash.
        """
        if entry.is_dir:
            raise InvalidInput(f"{entry.name} is a directory")
        end = entry.size if length is None else start + length
        if start < 0 or end > entry.size or end < start:
            raise InvalidInput(f"range {start}..{end} is outside {entry.name} ({entry.size} bytes)")
        whole = start == 0 and end == entry.size
        hasher = self.algorithm.new() if whole else None
        # Refs are streamed (an indexed file's come page by page): the refs in range wait in
        # ``wanted`` only while their objects are being fetched, so memory follows the window.
        wanted: deque[tuple[int, DataRef]] = deque()  # (position in the file, ref)
        reached = [0]
        # Chunks past COLD_AFTER are read past the page cache, as a put wrote them (the file's
        # first part stays cached); ids wait here between ``oids`` and ``fetch`` only.
        cold: set[str] = set()

        def oids() -> Iterator[str]:
            pos = 0
            for ref in self.iter_refs(entry):
                ref_end = pos + ref.length
                if ref_end > start and pos < end:
                    wanted.append((pos, ref))
                    if pos >= fileio.COLD_AFTER:
                        cold.add(ref.oid)
                    yield ref.oid
                pos = ref_end
                if pos >= end:
                    break
            reached[0] = pos

        chunked = bool(entry.index) or len(entry.refs) > 1

        def fetch(oid: str) -> bytes:
            # A file of several chunks: each chunk is its own object, read once (see ``keep``).
            if oid in cold:
                cold.discard(oid)
                return self.get_object(oid, cache=cache, keep=False, cold=True)
            return self.get_object(oid, cache=cache, keep=not chunked)

        if chunked:
            # A local store reads one object ahead on one thread: the next chunk is read and
            # verified while the caller writes this one (a large file's get overlaps its
            # reads, hashing and writes instead of taking turns).
            window = max(self.read_window, LOCAL_AHEAD)
            objects: Iterator[bytes] = (
                data for _oid, data in fetch_in_order(self._read_pool(), fetch, oids(), window)
            )
        else:
            objects = map(fetch, oids())
        try:
            for data in objects:
                at, ref = wanted.popleft()
                if ref.offset + ref.length > len(data):
                    raise CorruptObject(ref.oid, "(too short for its reference)", self.backend.url)
                lo = ref.offset + max(start - at, 0)
                hi = ref.offset + min(end, at + ref.length) - at
                piece = data[lo:hi] if (lo, hi) != (0, len(data)) else data
                if hasher is not None:
                    hasher.update(piece)
                yield piece
        finally:
            close = getattr(objects, "close", None)
            if close is not None:
                close()  # cancels fetches not yet started
        if hasher is not None and reached[0] >= entry.size and hasher.hexdigest() != entry.hash:
            raise CorruptObject(entry.hash, hasher.hexdigest(), f"file {entry.name}")

    def iter_refs(self, entry: Entry) -> Iterator[DataRef]:
        """A file's data refs in order: inline, or streamed from its index object.

        Raises:
            MalformedIndex: the index object is not a valid index for this entry.
            CorruptObject, ObjectNotFound: an index page is damaged or missing.
        """
        return self.trees.iter_refs(entry)

    def iter_content_reusing(
        self, entry: Entry, old: Entry, old_file: str | os.PathLike[str], *, cache: bool = True
    ) -> Iterator[bytes]:
        """``entry``'s bytes, taking the ranges it shares with ``old`` from ``old_file``.

        ``old_file`` is a local file believed to hold ``old``'s content (a working copy's
        previous version): an edit to a large file changes a few chunks, so the rest is
        read from local disk instead of fetched again. Nothing read locally is trusted: a
        range that is a whole object is checked against its id (else fetched), and the
        file as a whole against ``entry``'s hash.

        Raises:
            CorruptObject: the result does not match ``entry``'s hash (``old_file`` did not
                hold ``old`` after all: read from the store instead), or a fetched object is corrupt.
        """
        if entry.is_dir or old.is_dir:
            raise InvalidInput(f"{entry.name} is a directory")
        local: dict[tuple[str, int, int], int] = {}  # (oid, offset, length) -> position in old_file
        at = 0
        for r in self.iter_refs(old):
            local.setdefault((r.oid, r.offset, r.length), at)
            at += r.length
        hasher = self.algorithm.new()

        def fetch(oid: str) -> bytes:
            return self.get_object(oid, cache=cache)

        refs = list(self.iter_refs(entry))  # a few thousand even for a file of tens of GiB
        remote = [r.oid for r in refs if (r.oid, r.offset, r.length) not in local]
        if self.read_window > 1 and len(remote) > 1:
            fetched: Iterator[bytes] = (
                d for _o, d in fetch_in_order(self._read_pool(), fetch, remote, self.read_window)
            )
        else:
            fetched = map(fetch, remote)
        try:
            with open(old_file, "rb", buffering=0) as f:
                for r in refs:
                    where = local.get((r.oid, r.offset, r.length))
                    piece: bytes | None = None
                    if where is not None:
                        piece = os.pread(f.fileno(), r.length, where)
                        whole_object = r.offset == 0 and r.length == len(piece)
                        if len(piece) != r.length or (
                            whole_object and self.algorithm.digest(piece) != r.oid and r.length > 0
                        ):
                            piece = None
                        if piece is None:
                            data = fetch(r.oid)
                            if r.offset + r.length > len(data):
                                raise CorruptObject(r.oid, "(too short for its reference)", self.backend.url)
                            piece = data[r.offset : r.offset + r.length]
                    else:
                        data = next(fetched)
                        if r.offset + r.length > len(data):
                            raise CorruptObject(r.oid, "(too short for its reference)", self.backend.url)
                        piece = (
                            data
                            if (r.offset, r.length) == (0, len(data))
                            else data[r.offset : r.offset + r.length]
                        )
                    hasher.update(piece)
                    yield piece
        finally:
            close = getattr(fetched, "close", None)
            if close is not None:
                close()
        if hasher.hexdigest() != entry.hash:
            raise CorruptObject(
                entry.hash, hasher.hexdigest(), f"file {entry.name} (rebuilt from {old_file})"
            )

    def holds_content(self, entry: Entry, data: memoryview) -> bool:
        """Whether the first ``entry.size`` bytes of ``data`` (a local file, mapped) are
        ``entry``'s content: they hash to the file's content hash. Nothing is fetched, and
        no object is read, so none needs checking against its id.

        A working copy's file cut short (a rollback of an append) is checked in place this
        way, in one pass, without a byte written (``datavc.export``).
        """
        if entry.is_dir or entry.size > len(data):
            return False
        return self.algorithm.digest(data[: entry.size]) == entry.hash

    def read_bytes(self, entry: Entry, start: int = 0, length: int | None = None) -> bytes:
        """A file's bytes (or a range of them) in memory: for small files."""
        return b"".join(self.iter_content(entry, start, length))

    def open_file(self, entry: Entry) -> io.BufferedReader:
        """A seekable binary stream over a file's content."""
        return io.BufferedReader(_EntryReader(self, entry), buffer_size=1024 * 1024)

    def export(self, entry: Entry, dest: str | os.PathLike[str]) -> None:
        """Write a file to ``dest`` (atomically: temp file then rename)."""
        atomic_write(dest, self.iter_content(entry), fsync=False)

    # ----- trees -------------------------------------------------------------

    def empty_tree(self) -> ObjectId:
        """The id of the empty tree (written when first needed)."""
        with self.writer() as w:
            return w.trees.empty()

    def get_entry(self, root: str, path: str) -> Entry | None:
        """The entry at ``path`` in tree ``root`` (the root itself for ``""``), or None."""
        return self.trees.get(root, normalize_path(path))

    def list_dir(self, root: str, path: str = "") -> Iterator[Entry]:
        """The entries of the directory at ``path``.

        Raises:
            ObjectNotFound: no such path; InvalidInput: it is a file.
        """
        entry = self.get_entry(root, path)
        if entry is None:
            raise ObjectNotFound(path or "/", "tree " + root)
        if not entry.is_dir:
            raise InvalidInput(f"{path} is a file, not a directory")
        return self.trees.iter_dir(entry.hash)

    def walk(self, root: str, path: str = "", *, dirs: bool = False) -> Iterator[tuple[str, Entry]]:
        """Every file (and directory, with ``dirs``) below ``path``, as (full path, entry)."""
        path = normalize_path(path)
        entry = self.trees.get(root, path)
        if entry is None:
            return iter(())
        if not entry.is_dir:
            return iter([(path, entry)])
        return self.trees.walk(entry.hash, path + "/" if path else "", dirs=dirs)

    def diff(self, a: str, b: str) -> Iterator[DiffEntry]:
        """File-level changes from tree ``a`` to tree ``b``; cost follows the changes, not the size."""
        return self.trees.diff(a, b)

    # ----- integrity ---------------------------------------------------------

    def fsck(self, roots: list[str] | None = None) -> FsckReport:
        """Verify every stored object; with ``roots``, also that every object they use exists."""
        report = FsckReport()
        for oid in self.backend.iter_ids():
            report.checked += 1
            try:
                data = self.backend.get(oid)
            except ObjectNotFound:
                continue  # deleted while listing
            report.bytes += len(data)
            if self.algorithm.digest(data) != oid:
                report.corrupt.append(oid)
        seen: set[str] = set()
        for root in roots or []:
            try:
                for oid, is_tree in self.trees.iter_objects(root, seen):
                    if not is_tree and oid not in seen:
                        seen.add(oid)
                        if not self.backend.exists(oid):
                            report.missing.append(oid)
            except ObjectNotFound as err:
                report.missing.append(err.oid)
            except CorruptObject as err:
                if err.oid not in report.corrupt:
                    report.corrupt.append(err.oid)
        return report

    def is_tree(self, oid: str) -> bool:
        return is_tree_object(self.get_object(oid))


class _EntryReader(io.RawIOBase):
    """Raw seekable reader over a file entry; fetches one object at a time."""

    def __init__(self, store: ObjectStore, entry: Entry) -> None:
        super().__init__()
        if entry.is_dir:
            raise InvalidInput(f"{entry.name} is a directory")
        self._store = store
        self._entry = entry
        self._pos = 0
        self._starts: list[int] = []
        self._refs = list(store.iter_refs(entry))
        total = 0
        for r in self._refs:
            self._starts.append(total)
            total += r.length
        self._current: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._entry.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        if self._pos >= self._entry.size:
            return 0
        from bisect import bisect_right

        i = bisect_right(self._starts, self._pos) - 1
        ref: DataRef = self._refs[i]
        if self._current is None or self._current[0] != i:
            data = self._store.get_object(ref.oid)
            self._current = (i, data[ref.offset : ref.offset + ref.length])
        piece = self._current[1]
        off = self._pos - self._starts[i]
        n = min(len(b), len(piece) - off)
        b[:n] = piece[off : off + n]
        self._pos += n
        return n


def _backend(
    target: Backend | str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None, algorithm: str | None
) -> Backend:
    backend = target if isinstance(target, Backend) else open_backend(os.fspath(target))
    if cache_dir is not None and algorithm is not None:
        from storage.cache import CachedBackend

        backend = CachedBackend(backend, cache_dir, HashAlgorithm(algorithm))
    return backend
