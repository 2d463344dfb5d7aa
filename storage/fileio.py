"""Atomic file writes: a reader sees the old file or the whole new one, never a torn one.

Every file datavc writes in place (objects, cached copies, store metadata, exported files,
checkout state, the store config) goes through :func:`atomic_write`: write a temp file in
the same file system, optionally ``fsync`` it, ``rename`` it over the target, and then
``fsync`` the directory so the rename itself survives a crash (dulwich's ``GitFile`` and
git's lock files do the same). A write that fails for any reason, including an exception
raised by the data iterator or a ``KeyboardInterrupt``, removes its temp file and leaves
the target as it was.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import IO

#: Attempts at a free temp name before giving up (each name has 48 random bits).
_TEMP_ATTEMPTS = 100


def _cold_after() -> int:
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        ram = 0
    return max(1024 * 1024 * 1024, ram // 4)


#: Bytes of one stream (a quarter of memory, at least 1 GiB) after which it is "cold": its
#: chunks are written with ``Backend.put_cold`` (a local directory drops them from the page
#: cache once flushed), the pages of a local file being read are dropped as it is read, and a file written
#: back from the store (``get -o``, a checkout) drops its pages as it is written.
#: Why: a file larger than the cache evicts everything else, its own first part included,
#: and every later write pays to reclaim pages first. A 4 GiB put on the 2-core bench
#: machine spent 6.8-7.7 s of system CPU with its chunks kept cached and 2.6-4.2 s without.
#: The first part stays cached, so a large file read back soon starts from memory.
COLD_AFTER = _cold_after()
#: Bytes a cold file being written is ahead of the pages it drops (see :func:`atomic_write`).
_DROP_LAG = 64 * 1024 * 1024
#: Offsets, lengths and buffer addresses of direct (``O_DIRECT``) I/O are multiples of this:
#: the largest logical block size of common disks, and the page size.
DIRECT_ALIGN = 4096
#: Bytes gathered in an aligned buffer per direct write of a stream (two buffers)...
_DIRECT_CHUNK = 8 * 1024 * 1024
#: ...and of an object (one buffer per writing thread: a writer runs several).
_OBJECT_CHUNK = 2 * 1024 * 1024
_O_DIRECT = getattr(os, "O_DIRECT", 0)



def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | memoryview | Iterable[bytes | memoryview],
    *,
    fsync: bool = True,
    mode: int | None = None,
    tmp_dir: str | os.PathLike[str] | None = None,
    prefix: str | None = None,
    cached: bool = True,
    drop_after: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically.

    Args:
        path: the target file; its directory must exist. An existing file is replaced.
        data: the content, in one piece or as an iterable of pieces (streamed, so a large
            file never sits in memory).
        fsync: flush the file to disk before the rename and the directory after it.
            Without it the write is still atomic, but may be lost (never torn) in a crash.
        mode: permission bits set exactly (``fchmod``) before the rename; None gives what
            ``open()`` gives, ``0o666`` less the umask.
        tmp_dir: where the temp file is made; it must be on the same file system as
            ``path``. Default: ``path``'s directory. Stores keep temp files out of the
            directories they list.
        prefix: start of the temp file's name (default ``.<name>.``), to tell what it was for.
        cached: False for bytes nobody reads again soon (an object of a large file): they
            bypass the page cache, written with ``O_DIRECT`` through this thread's aligned
            buffer where the file system takes it, else dropped from the cache once written
            (after the fsync, when they are clean).
        drop_after: for a large file streamed in pieces: its bytes past this offset (a
            multiple of :data:`DIRECT_ALIGN`) bypass the page cache: written with
            ``O_DIRECT`` through an aligned buffer where the file system takes it; else
            written back and dropped from the page cache as they are written, in steps of
            :data:`_DROP_LAG` (each step starts writing back the last one and drops the one
            before, by then clean). Its first bytes stay cached. Why direct: on the bench
            machine buffered writes of 4 GiB took 10-12 s of CPU in page-cache work and
            ran at 200-270 MiB/s; direct ones 0.2 s and 1-1.2 GiB/s.

    Raises:
        OSError: the write, the rename or an fsync failed. The temp file is gone and
            ``path`` is unchanged, except when only the directory's fsync (after the
            rename) failed. Whatever ``data`` raises while being iterated is re-raised,
            with ``path`` unchanged and no temp file left.
    """
    # Strings, not pathlib: this runs for every object a writer stores.
    target = os.fspath(path)
    head, name = os.path.split(target)
    directory = os.fspath(tmp_dir) if tmp_dir is not None else head or "."
    fd, tmp = _create_temp(directory, prefix or f".{name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            direct = None if cached or drop_after is not None else _open_direct(tmp, os.O_WRONLY)
            if direct is not None:
                pieces = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
                try:
                    _write_pieces_direct(direct, fd, pieces)
                finally:
                    os.close(direct)
            elif isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            elif drop_after is None:
                for piece in data:
                    f.write(piece)
            else:
                _write_cold(f, tmp, data, drop_after)
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
            if not cached:
                f.flush()
                drop_cached(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if fsync:
        fsync_dir(head or ".")


def _write_cold(f: IO[bytes], path: str, pieces: Iterable[bytes | memoryview], start: int) -> None:
    """Write ``pieces`` to ``f`` (the file at ``path``); past ``start``, direct where possible."""
    direct = _open_direct(path, os.O_WRONLY) if start % DIRECT_ALIGN == 0 else None
    if direct is None:
        _write_dropping(f, pieces, start)
        return
    try:
        written = 0
        it = iter(pieces)
        for piece in it:
            if written + len(piece) <= start:
                f.write(piece)
                written += len(piece)
                continue
            head = start - written
            f.write(memoryview(piece)[:head])
            f.flush()
            _write_direct(direct, f.fileno(), chain((memoryview(piece)[head:],), it), start)
            break
    finally:
        os.close(direct)


def _open_direct(path: str, flags: int) -> int | None:
    """``path`` opened with ``O_DIRECT``, or None where the system or file system has none."""
    if not _O_DIRECT:
        return None
    try:
        return os.open(path, flags | _O_DIRECT | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        if err.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return None
        raise


def _write_direct(fd: int, plain_fd: int, pieces: Iterable[bytes | memoryview], pos: int) -> None:
    """Write ``pieces`` at ``pos`` (aligned) through aligned buffers with the direct ``fd``.

    Two buffers: one is filled while the other is written by a second thread (a direct
    write returns only when its bytes reached the disk). The last block is padded, then the
    file cut to its size. A direct write the file system refuses (EINVAL: an alignment it
    wants larger) goes on through ``plain_fd``, buffered.
    """
    from concurrent.futures import Future, ThreadPoolExecutor  # only large files come here

    with (
        ThreadPoolExecutor(1, thread_name_prefix="datavc-direct") as pool,
        mmap.mmap(-1, _DIRECT_CHUNK) as one,
        mmap.mmap(-1, _DIRECT_CHUNK) as two,
    ):
        views = [memoryview(one), memoryview(two)]
        writing: Future[int] | None = None
        out = fd
        try:
            for view, fill in _filled(pieces, views):
                if writing is not None:
                    out = writing.result()  # the other buffer is free again
                    writing = None
                if fill == len(view):
                    writing = pool.submit(_pwrite_all, out, plain_fd, view, pos)
                    pos += fill
                else:
                    _write_tail(out, plain_fd, view, fill, pos)
        finally:
            if writing is not None:
                writing.cancel()
                try:
                    writing.result()
                except BaseException:  # the error being raised already says enough
                    pass
            for v in views:
                v.release()


def _write_pieces_direct(fd: int, plain_fd: int, pieces: Iterable[bytes | memoryview]) -> None:
    """Write ``pieces`` from offset 0 with the direct ``fd`` through this thread's aligned
    buffer of :data:`_OBJECT_CHUNK` bytes (an object: writers run several of these at once)."""
    out = fd
    pos = 0
    with _aligned_buffer("write", _OBJECT_CHUNK) as whole, whole[:_OBJECT_CHUNK] as view:
        for buf, fill in _filled(pieces, [view]):
            if fill == len(buf):
                out = _pwrite_all(out, plain_fd, buf, pos)
                pos += fill
            else:
                _write_tail(out, plain_fd, buf, fill, pos)


def _filled(
    pieces: Iterable[bytes | memoryview], views: list[memoryview]
) -> Iterator[tuple[memoryview, int]]:
    """Copy ``pieces`` into the buffers ``views`` in turn: ``(buffer, bytes in it)`` each time
    one is full (written before it comes round again), then once for the rest (maybe 0)."""
    turn = 0
    view = views[0]
    fill = 0
    for piece in pieces:
        mv = memoryview(piece)
        while len(mv):
            n = min(len(mv), len(view) - fill)
            view[fill : fill + n] = mv[:n]
            fill += n
            mv = mv[n:]
            if fill == len(view):
                yield view, fill
                turn = (turn + 1) % len(views)
                view = views[turn]
                fill = 0
    yield view, fill


def _write_tail(fd: int, plain_fd: int, view: memoryview, fill: int, pos: int) -> None:
    """The last ``fill`` bytes at ``pos``: the block padded, then the file cut to its size."""
    if fill:
        padded = -(-fill // DIRECT_ALIGN) * DIRECT_ALIGN
        view[fill:padded] = bytes(padded - fill)
        _pwrite_all(fd, plain_fd, view[:padded], pos)
    os.ftruncate(plain_fd, pos + fill)


def _pwrite_all(fd: int, plain_fd: int, data: memoryview, pos: int) -> int:
    """Write all of ``data`` at ``pos``; returns the descriptor to go on with."""
    while len(data):
        try:
            n = os.pwrite(fd, data, pos)
        except OSError as err:
            if err.errno != errno.EINVAL or fd == plain_fd:
                raise
            fd = plain_fd  # the file system wants another alignment: buffered from here
            continue
        if n <= 0:
            raise OSError(errno.EIO, "a write made no progress")
        data = data[n:]
        pos += n
    return fd


def read_direct(path: str) -> bytes | None:
    """The bytes of the file at ``path`` read with ``O_DIRECT`` (past the page cache), or
    None where the system or file system has no direct I/O (read it as usual then).

    For a large file read once (the chunks of a file past :data:`COLD_AFTER`): a buffered read
    puts each page in the cache and a later one reclaims it. Raises ``OSError`` (a missing
    file: ``FileNotFoundError``).
    """
    fd = _open_direct(path, os.O_RDONLY)
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        with _aligned_buffer("read", size + DIRECT_ALIGN) as view:  # room to read past the end: finds it
            got = 0
            while True:
                n = os.preadv(fd, [view[got:]], got)
                if n == 0:
                    break
                got += n
                if got % DIRECT_ALIGN:
                    break  # a short read that is not block-aligned: the end of the file
            return bytes(view[:got])
    except OSError as err:
        if err.errno == errno.EINVAL:  # an alignment the file system wants larger
            return None
        raise
    finally:
        os.close(fd)


_buffers = threading.local()


def _aligned_buffer(kind: str, size: int) -> memoryview:
    """This thread's aligned buffer for ``kind`` of use, grown to at least ``size`` bytes."""
    have: mmap.mmap | None = getattr(_buffers, kind, None)
    if have is None or len(have) < size:
        if have is not None:
            have.close()
        have = mmap.mmap(-1, -(-size // mmap.PAGESIZE) * mmap.PAGESIZE)
        setattr(_buffers, kind, have)
    return memoryview(have)


def _write_dropping(f: IO[bytes], pieces: Iterable[bytes | memoryview], start: int) -> None:
    """Write ``pieces`` to ``f``, dropping the pages past ``start`` as they are written back."""
    written = 0
    back = dropped = start  # writeback started up to ``back``; pages dropped up to ``dropped``
    for piece in pieces:
        f.write(piece)
        written += len(piece)
        if written - back >= _DROP_LAG:
            f.flush()
            if back > dropped:
                drop_cached(f.fileno(), dropped, back - dropped)  # written back by now: dropped
                dropped = back
            drop_cached(f.fileno(), back, written - back)  # dirty: their writeback starts
            back = written


def drop_cached(fd: int, offset: int = 0, length: int = 0) -> None:
    """Drop a file's clean pages (``length`` 0: to its end) from the page cache, and start
    writing back its dirty ones. Advice only: where it is not supported nothing happens."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        try:
            advise(fd, offset, length, os.POSIX_FADV_DONTNEED)
        except OSError:  # a file system or file kind without it: the pages just stay cached
            pass


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (a rename or a new file in it) to disk.

    Raises:
        OSError: the directory cannot be opened or flushed.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _token() -> str:
    """12 random hex digits (``secrets.token_hex(6)`` without importing secrets, hmac and hashlib)."""
    return os.urandom(6).hex()


def _create_temp(directory: str, prefix: str) -> tuple[int, str]:
    """Create a new, empty temp file (``O_EXCL``, mode ``0o666`` less the umask, as ``open()``).

    ``tempfile.mkstemp`` would force mode ``0o600``, which an exported file must not get.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TEMP_ATTEMPTS):
        tmp = os.path.join(directory, f"{prefix}{_token()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name in {directory} after {_TEMP_ATTEMPTS} attempts")
