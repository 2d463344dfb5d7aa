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

import os
from collections.abc import Iterable
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
        cached: False drops the file's pages from the page cache once written (after the
            fsync, when they are clean): for bytes nobody reads again soon.
        drop_after: for a large file streamed in pieces: its pages past this offset are
            written back and dropped from the page cache as it is written, in steps of
            :data:`_DROP_LAG` (each step starts writing back the last one and drops the one
            before, by then clean). Its first bytes stay cached.

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
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            elif drop_after is None:
                for piece in data:
                    f.write(piece)
            else:
                _write_dropping(f, data, drop_after)
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
