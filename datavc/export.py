"""Export: write stored files into a local directory, and remove them again, never outside it.

Everything that materialises a commit's files on local disk goes through :class:`Exporter`:
``get -o`` (:func:`export_entry`), ``checkout`` and its updates, and pipeline input
staging (the local executor and the Kubernetes worker). One place holds the rules:

- A repo path is written below the export root only. Each component must be a valid name
  (trees are checked when decoded; this is the second line), and every directory on the
  way is looked at with ``lstat``: a missing one is created, a symbolic link is followed
  only when it resolves inside the root, and anything else is refused. So neither a
  crafted tree (``..``, ``/etc/x``) nor a link planted in the destination (``d -> /etc``)
  makes an export write or delete outside its root.
- A file is written to a fresh temporary name in its directory (``O_EXCL``: never through
  an existing link) and renamed over the target, so a reader sees the old or the new file,
  and a link at the target is replaced, not written through. Temporary names match
  :func:`is_temp_name`, so a working copy can tell them from user files.
- :meth:`Exporter.remove` unlinks only inside the root and prunes directories left empty,
  never the root itself nor anything above it.

Errors are datavc's: a corrupt tree or object is :class:`~datavc.errors.Integrity`
(exit 6), a destination that cannot be written is
:class:`~datavc.errors.InvalidArgument` naming the local path.
"""

from __future__ import annotations

import mmap
import os
import shutil
import stat
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from datavc.context import storage_errors
from datavc.errors import AlreadyExists, Conflict, CorruptData, InvalidArgument
from storage.fileio import COLD_AFTER, atomic_write
from storage.model import Entry, name_problem
from storage.store import ObjectStore

#: An earlier version of a file and the local file that holds it (see :meth:`Exporter.write`).
LocalCopy = tuple[Entry, Path]

TEMP_PREFIX = ".datavc-"  # atomic_write adds 12 hex digits and ".tmp"
Progress = Callable[[int], None]


def is_temp_name(name: str) -> bool:
    """Whether a local file name is one of an export's temporary files (a crash may leave one)."""
    return name.startswith(TEMP_PREFIX) and name.endswith(".tmp")


@contextmanager
def _local_errors(what: str | os.PathLike[str]) -> Iterator[None]:
    """An OSError on the destination becomes one line naming the local path."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise InvalidArgument(f"cannot write {os.fspath(what)}: {reason}") from err


class Exporter:
    """Writes repo paths below one local root directory (created on first use).

    Args:
        store: where file contents are read from (None for an exporter fed only through
            :meth:`write_stream`, as a remote download is).
        root: the local directory paths are relative to.
        reserved: top-level names the root keeps for itself (a checkout's metadata
            directory): a path under one is refused.
        tmp_dir: where temp files are made before being renamed into place (default: beside
            each target); a checkout keeps them in its own directory so a crash leaves none
            among the user's files. It must be on the root's filesystem.
    """

    def __init__(
        self,
        store: ObjectStore | None,
        root: str | os.PathLike[str],
        *,
        reserved: Collection[str] = (),
        tmp_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.tmp_dir = tmp_dir
        self.root = Path(root).absolute()
        self._reserved = frozenset(reserved)
        self._real_root: str | None = None
        self._ready = False
        self._last_parent: tuple[str, Path] | None = None  # the last directory checked, reused

    # ----- paths -------------------------------------------------------------

    def _parts(self, rel: str) -> list[str]:
        parts = rel.split("/")
        for part in parts:
            problem = name_problem(part)
            if problem is not None:
                raise CorruptData(f"refusing to write {rel[:200]!r} below {self.root}: {part!r}: {problem}")
        if parts[0] in self._reserved:
            raise Conflict(f"/{rel[:200]} is inside {parts[0]}, which {self.root} keeps for itself")
        return parts

    def _inside(self, path: Path) -> bool:
        if self._real_root is None:
            self._real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        return real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep)

    def _ensure_root(self) -> None:
        if not self._ready:
            with _local_errors(self.root):
                self.root.mkdir(parents=True, exist_ok=True)
                if not self.root.is_dir():
                    raise InvalidArgument(f"{self.root} is not a directory")
            self._ready = True

    def _parent(self, parts: list[str], *, create: bool) -> Path | None:
        """The local directory for ``parts[:-1]``, checked component by component.

        Returns None when ``create`` is false and a directory is missing.
        """
        key = "/".join(parts[:-1])
        if self._last_parent is not None and self._last_parent[0] == key:
            return self._last_parent[1]
        self._ensure_root()
        cur = self.root
        for part in parts[:-1]:
            nxt = cur / part
            with _local_errors(nxt):
                try:
                    st = os.lstat(nxt)
                except FileNotFoundError:
                    if not create:
                        return None
                    try:
                        os.mkdir(nxt)
                        cur = nxt
                        continue
                    except FileExistsError:  # made meanwhile by a parallel write: check what it is
                        st = os.lstat(nxt)
            if stat.S_ISLNK(st.st_mode):
                if not self._inside(nxt):
                    raise InvalidArgument(
                        f"{nxt} is a symbolic link to {os.path.realpath(nxt)}, outside {self.root}: "
                        "refusing to write through it"
                    )
                if not nxt.is_dir():
                    raise Conflict(f"{nxt} is in the way: a directory is needed there")
            elif not stat.S_ISDIR(st.st_mode):
                raise Conflict(f"{nxt} is in the way: a directory is needed there")
            cur = nxt
        self._last_parent = (key, cur)
        return cur

    # ----- writing -----------------------------------------------------------

    def write(
        self, rel: str, entry: Entry, *, replace_dir: bool = False, local: LocalCopy | None = None
    ) -> os.stat_result:
        """Write the file ``entry`` at the repo path ``rel`` (relative to the root); returns its stat.

        Args:
            replace_dir: a local directory where the file goes is removed (a checkout
                taking the commit's shape); otherwise it is a conflict.
            local: ``(old entry, local file)``: a file believed to hold an earlier version,
                whose shared ranges are copied instead of fetched (a working copy's update);
                if it turns out not to hold it, the file is written from the store.

        Raises:
            Integrity: the stored data is corrupt or missing (nothing is left at the target);
            Conflict: a file or directory is in the way;
            InvalidArgument: the destination cannot be written (permissions, a link out of the root).
        """
        store = self.store
        assert store is not None, "an exporter without a store writes through write_stream only"
        parent, target = self._target(rel, replace_dir)
        with _local_errors(target):
            if local is not None:
                st = _shrink_in_place(store, entry, local, target)
                if st is not None:
                    return st
                try:
                    _write_atomic(store, entry, self.tmp_dir or parent, target, local=local)
                    return os.lstat(target)
                except (CorruptData, OSError):
                    pass  # the local copy was not what the index said: fetch everything
            _write_atomic(store, entry, self.tmp_dir or parent, target)
            return os.lstat(target)

    def write_stream(self, rel: str, pieces: Iterable[bytes], *, replace_dir: bool = False) -> os.stat_result:
        """Write a file whose content arrives as ``pieces`` (a download) at ``rel``; as :meth:`write`."""
        parent, target = self._target(rel, replace_dir)
        with _local_errors(target):
            atomic_write(target, pieces, fsync=False, tmp_dir=self.tmp_dir or parent, prefix=TEMP_PREFIX)
            return os.lstat(target)

    def ensure_root(self) -> None:
        """Create the root directory if it is missing (an export of an empty directory)."""
        self._ensure_root()

    def target(self, rel: str, *, replace_dir: bool = False) -> tuple[Path, Path]:
        """The checked parent directory (created) and target path of a file at ``rel``.

        For a writer that fills the file itself (parallel ranged downloads): it makes its
        temporary file in that parent and renames it onto the target.
        """
        return self._target(rel, replace_dir)

    def _target(self, rel: str, replace_dir: bool) -> tuple[Path, Path]:
        """The checked parent directory and target path of a file at ``rel``; clears a directory there."""
        parts = self._parts(rel)
        parent = self._parent(parts, create=True)
        assert parent is not None
        target = parent / parts[-1]
        with _local_errors(target):
            try:
                st = os.lstat(target)
            except FileNotFoundError:
                pass
            else:
                if stat.S_ISDIR(st.st_mode):
                    if not replace_dir:
                        raise Conflict(f"{target} is a directory: cannot write a file there")
                    shutil.rmtree(target)  # a real directory inside the root (lstat): links not followed
                    self._last_parent = None
        return parent, target

    def write_files(
        self,
        items: Iterable[tuple[str, Entry, LocalCopy | None]],
        *,
        replace_dir: bool = False,
        workers: int | None = None,
    ) -> Iterator[tuple[str, Entry, os.stat_result]]:
        """:meth:`write` each ``(rel, entry, local)``, several files at once; yields
        ``(rel, entry, stat)`` in order.

        A remote store's files are written ``workers`` at a time (default 4), so the
        object fetches of the next files overlap the last ones of a file instead of
        draining the read window at every file boundary; a local store writes one at a
        time. At most ``2 * workers`` files are in progress, whatever the number of items.
        On an error the files not started are dropped and the first error is raised.
        """
        assert self.store is not None, "an exporter without a store writes through write_stream only"
        n = workers if workers is not None else (4 if self.store.read_window > 1 else 1)
        if n <= 1:
            for rel, entry, copy in items:
                yield rel, entry, self.write(rel, entry, replace_dir=replace_dir, local=copy)
            return
        local = threading.local()

        def one(rel: str, entry: Entry, copy: LocalCopy | None) -> os.stat_result:
            ex = getattr(local, "exporter", None)
            if ex is None:  # per thread: an Exporter remembers the last directory it checked
                ex = local.exporter = Exporter(
                    self.store, self.root, reserved=self._reserved, tmp_dir=self.tmp_dir
                )
            return ex.write(rel, entry, replace_dir=replace_dir, local=copy)

        pending: deque[tuple[str, Entry, Future[os.stat_result]]] = deque()
        with ThreadPoolExecutor(n, thread_name_prefix="datavc-export") as pool:
            try:
                for rel, entry, copy in items:
                    pending.append((rel, entry, pool.submit(one, rel, entry, copy)))
                    while len(pending) >= 2 * n:
                        rel0, e0, fut = pending.popleft()
                        yield rel0, e0, fut.result()
                while pending:
                    rel0, e0, fut = pending.popleft()
                    yield rel0, e0, fut.result()
            finally:
                for _rel, _e, fut in pending:
                    fut.cancel()

    def write_tree(self, tree: str, base: str = "", *, progress: Progress | None = None) -> int:
        """Write every file of the tree ``tree`` under the repo path ``base``; returns files written.

        The directory ``base`` is created even when the tree is empty.
        """
        if base:
            self._parent([*self._parts(base), ""], create=True)
        else:
            self._ensure_root()
        n = 0
        assert self.store is not None, "an exporter without a store writes through write_stream only"
        with storage_errors():
            files = ((rel, f, None) for rel, f in self.store.trees.walk(tree, base + "/" if base else ""))
            for _rel, f, _st in self.write_files(files):
                n += 1
                if progress is not None:
                    progress(f.size)
        return n

    # ----- removing ----------------------------------------------------------

    def remove(self, rel: str) -> bool:
        """Delete the file at ``rel`` and the directories it leaves empty (never the root).

        A directory at ``rel`` is left alone. Returns whether a file was removed.
        """
        parts = self._parts(rel)
        parent = self._parent(parts, create=False)
        if parent is None:
            return False
        target = parent / parts[-1]
        with _local_errors(target):
            try:
                if stat.S_ISDIR(os.lstat(target).st_mode):
                    return False
                os.unlink(target)  # a link itself is removed, never what it points to
            except FileNotFoundError:
                return False
            self._last_parent = None
            self._prune(parts[:-1])
        return True

    def _prune(self, dirs: list[str]) -> None:
        """Remove the directories ``root/dirs[0]/.../dirs[-1]`` upward while they are empty."""
        while dirs:
            d = self.root.joinpath(*dirs)
            if not d.is_dir() or d.is_symlink() or any(d.iterdir()):
                return
            d.rmdir()
            dirs = dirs[:-1]


def _write_atomic(
    store: ObjectStore, entry: Entry, tmp_dir: Path, target: Path, *, local: LocalCopy | None = None
) -> None:
    """Write ``entry``'s content to a new temporary file in ``tmp_dir``, then rename it to ``target``.

    The temp file is created with ``O_EXCL`` (never through an existing link) under a short
    fixed prefix: a 255-byte name plus the default ``.<name>.`` prefix would be too long.
    """
    content = (
        store.iter_content(entry, cache=False)
        if local is None
        else store.iter_content_reusing(entry, local[0], local[1], cache=False)
    )
    with storage_errors():
        atomic_write(
            target,
            content,
            fsync=False,
            tmp_dir=tmp_dir,
            prefix=TEMP_PREFIX,
            drop_after=0 if entry.size > COLD_AFTER else None,  # all of it past the page cache
        )


def _shrink_in_place(
    store: ObjectStore, entry: Entry, local: LocalCopy, target: Path
) -> os.stat_result | None:
    """Cut the local file ``target`` down to ``entry`` when ``entry`` is a prefix of what
    it holds (a rollback of an append); returns its stat, or None to rewrite it as usual.

    Only a regular file with one link, the very file the index vouched for (``local``),
    longer than ``entry``; its first ``entry.size`` bytes must hash to the file's content
    hash (:meth:`ObjectStore.holds_content`, read through a mapping: nothing copied,
    nothing fetched). ``ftruncate`` is one system call, so a reader sees
    the old or the new file, as with a rename, and the bytes kept are never rewritten.
    """
    old, path = local
    if entry.size >= old.size:
        return None
    try:
        fd = os.open(target, os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st, was = os.fstat(fd), os.lstat(path)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_nlink != 1
            or st.st_size <= entry.size
            or (st.st_dev, st.st_ino) != (was.st_dev, was.st_ino)
        ):
            return None
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)  # one fault, not one per page
        with mmap.mmap(fd, entry.size, flags=flags, prot=mmap.PROT_READ) as mm, memoryview(mm) as view:
            same = store.holds_content(entry, view)
        if not same:
            return None
        os.ftruncate(fd, entry.size)
        return os.fstat(fd)
    except (OSError, ValueError, BufferError):
        return None
    finally:
        os.close(fd)


def export_entry(
    store: ObjectStore,
    entry: Entry,
    dest: str | os.PathLike[str],
    *,
    name: str,
    progress: Progress | None = None,
) -> int:
    """``get -o``: a file to ``dest``, or a directory's contents under ``dest``; returns files written.

    A file goes into ``dest`` when it is a directory (as ``cp`` does), is streamed into an
    existing device or FIFO (``/dev/null``, ``/dev/stdout``), and otherwise replaces
    ``dest`` atomically. A directory needs ``dest`` to be a directory or missing.

    Args:
        name: the file's own name, used when ``dest`` is a directory.

    Raises:
        AlreadyExists: a directory is exported onto something that is not a directory;
        InvalidArgument: the destination cannot be written.
    """
    out = Path(dest)
    if entry.is_dir:
        if out.exists() and not out.is_dir():
            raise AlreadyExists(f"{out} exists and is not a directory: cannot write a directory there")
        return Exporter(store, out).write_tree(entry.hash, progress=progress)
    if out.is_dir():
        Exporter(store, out).write(name, entry)
    elif out.exists() and not out.is_file():
        with _local_errors(out), open(out, "wb") as f, storage_errors():
            for piece in store.iter_content(entry, cache=False):
                f.write(piece)
    else:
        parent = out.parent
        if not parent.is_dir():
            raise InvalidArgument(f"{out}: no such directory {parent}")
        with _local_errors(out):
            _write_atomic(store, entry, parent, out)
    if progress is not None:
        progress(entry.size)
    return 1
