"""Parallel transfers of large files for the remote client: several requests in flight at once.

Why: one HTTP stream per large file leaves the link and both ends idle in turn (read,
send, wait, chunk, store), and a directory of 50 MiB files went over as one serial
stream at about half the speed of a direct put or get. Keeping a bounded window of
requests in flight overlaps the client's disk, the network and the server's work.

- **get**: a large file is split into parts of at most :data:`PART` bytes fetched with ranged
  GETs (at most :data:`WINDOW` at once across all files; :func:`part_size`), read with
  ``readinto`` (:mod:`datavc.ranges`) and written with ``pwrite`` into
  a temporary file preallocated to the file's size, renamed into place once every part
  arrived whole. Small files still come in one batch stream (``max_size``), alongside.
  Memory: one piece (:data:`datavc.remote.CHUNK`) per request in flight; no file is
  buffered whole.
- **put**: large files go up as their own streamed requests (``PUT_WINDOW`` at once) into one
  open commit, the small ones as one batch stream beside them; the commit is finished
  once every upload is stored, and aborted if any fails. A large file is cut here and
  sent as frames (:mod:`datavc.framing`) when the server says its chunk sizes; the server
  hashes every chunk itself, so it still computes every object id: no request names an
  id for new data (docs/security.md).

Paths are written through :class:`datavc.export.Exporter` checks (inside the target
root, no writing through links), as every download is.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx

from datavc import batch, errors, framing
from datavc.export import TEMP_PREFIX, Exporter
from datavc.info import CommitInfo, FileInfo

#: A :class:`datavc.remote.RemoteClient`. Not imported, even for type checking: that
#: module imports this one, and sibling modules stay acyclic (import-linter).
RemoteClient = Any

MiB = 1024 * 1024
LARGE = 8 * MiB  # files at least this big travel on their own requests
PART = 64 * MiB  # most bytes per ranged GET of a large file
MIN_PART = 8 * MiB  # a file is not cut finer than this to keep the window busy
WINDOW = 4  # ranged GETs in flight at once
#: Uploads in flight at once. The server answers an upload only once every object of it is
#: written and synced (the commit may then name them); one at a time, the client sat idle
#: for that tail: 3.2-3.9 s of an 8 s put of 20 x 50 MiB (scripts/bench_remote.py, 2
#: cores). Measured on 2 cores (3 rounds, load 13-18) once the server stopped starting
#: threads and allocating a chunking window per upload: 4 at once beat 2 in every round
#: (5.8 / 10.6 / 8.7 s against 9.6 / 13.8 / 8.8 s) and 8 (8.2 / 12.7 / 9.3 s). The server
#: holds at most one window (32 MiB) and 48 MiB in flight per upload.
PUT_WINDOW = 4
LIST_MAX = 10_000  # a directory with more files is listed only if it holds large files on average

Progress = Callable[[int], None]


def locked(progress: Progress | None) -> Progress | None:
    """``progress`` made safe to call from several threads (a rich progress bar is not)."""
    if progress is None:
        return None
    lock = threading.Lock()

    def call(n: int) -> None:
        with lock:
            progress(n)

    return call


def _run_all(tasks: list[Callable[[], object]], window: int) -> None:
    """Run ``tasks`` with at most ``window`` at once; the first failure is raised, the rest cancelled."""
    with ThreadPoolExecutor(window, thread_name_prefix="datavc-transfer") as pool:
        futures: list[Future[object]] = [pool.submit(t) for t in tasks]
        done, _ = wait(futures, return_when="FIRST_EXCEPTION")
        for f in done:
            if f.exception() is not None:
                for other in futures:
                    other.cancel()
                raise f.exception()  # type: ignore[misc]
        for f in futures:
            f.result()


# ----- put ---------------------------------------------------------------------------


def put_files(
    rc: RemoteClient,
    repo: str,
    branch: str,
    p: str,
    found: list[tuple[str, str, int]],
    message: str,
    commit: str | None,
    progress: Progress | None,
) -> CommitInfo:
    """Upload walked files (``batch.local_files`` rows: local path, path below ``p``, size) under ``p``.

    Without a large file they go as one batch stream, into ``commit`` or one new commit
    made only once the stream is complete (a cut upload leaves no open commit). With large
    files, those go up in parallel (:data:`PUT_WINDOW`), each as its own request, beside
    one batch stream of the small ones, into ``commit`` or a new open commit finished only
    when all are stored (aborted if one fails).
    """
    batch_url = f"{rc._repo(repo)}/branches/{_q(branch)}/batch"
    if not any(size >= LARGE for _, _, size in found):
        return put_walked(rc, repo, branch, p, found, message, commit, progress)
    large = [f for f in found if f[2] >= LARGE]
    small = [f for f in found if f[2] < LARGE]
    tick = locked(progress)
    cid = commit or rc.start_commit(repo, branch, message).id
    prefix = p + "/" if p else ""

    def put_small() -> object:
        params = {"path": p or "/", "message": message, "commit": cid}
        return rc._put(batch_url, params, iter_walked(small, tick))

    def put_large(local: str, rel: str, size: int) -> Callable[[], object]:
        def run() -> object:
            url = f"{rc._repo(repo)}/branches/{_q(branch)}/files/{_quote_path(prefix + rel)}"
            params = {"message": message, "commit": cid}
            cuts = rc._cuts()
            if cuts is None:  # an older server: the file's bytes, for it to cut
                return rc._put(url, params, batch.read_file(local, size, tick))
            return rc._put(url, {**params, "framed": "true"}, framing.file_frames(local, cuts, tick))

        return run

    tasks: list[Callable[[], object]] = [put_large(*f) for f in large]
    if small:
        tasks.insert(0, put_small)
    try:
        _run_all(tasks, PUT_WINDOW)
    except BaseException:
        if commit is None:
            with contextlib.suppress(errors.DatavcError):
                rc.abort_commit(repo, cid)
        raise
    done: CommitInfo = rc.finish_commit(repo, cid) if commit is None else rc.inspect_commit(repo, cid)
    return done


# ----- get ---------------------------------------------------------------------------


def _relative(info: FileInfo, f: FileInfo) -> str:
    base = info.path.strip("/")
    full = f.path.strip("/")
    return full[len(base) + 1 :] if base else full


def get_dir(rc: RemoteClient, repo: str, info: FileInfo, out: Path, progress: Progress | None) -> int | None:
    """Download directory ``info`` under ``out`` with its large files in parallel parts.

    Returns the number of files written, or None when the directory holds no large file
    (or too many files to list cheaply): the caller then takes the one batch stream.
    """
    if info.file_count > LIST_MAX and info.size < LARGE * info.file_count:
        return None
    walk = rc.list_files(repo, info.commit, info.path or "/", recursive=True)
    listing = [f for f in walk if f.kind == "file"]
    large = [f for f in listing if f.size >= LARGE]
    if not large:
        return None
    tick = locked(progress)
    exporter = Exporter(None, out)
    exporter.ensure_root()
    # Parents and temp files first, in this thread: the batch thread then never races to create a directory.
    pending: list[tuple[FileInfo, Path, Path]] = []
    try:
        for f in large:
            parent, target = exporter.target(_relative(info, f))
            fd, name = tempfile.mkstemp(dir=parent, prefix=TEMP_PREFIX, suffix=".tmp")
            pending.append((f, Path(name), target))
            with contextlib.closing(os.fdopen(fd, "wb")) as fh:
                fh.truncate(f.size)
        tasks: list[Callable[[], object]] = []
        if len(large) < len(listing):
            tasks.append(lambda: _get_small(rc, repo, info, out, tick))
        for f, tmp, _ in pending:
            tasks.extend(_part_tasks(rc, repo, f, tmp, tick, len(large)))
        _run_all(tasks, WINDOW)
        for _, tmp, target in pending:
            os.replace(tmp, target)
    finally:
        for _, tmp, _ in pending:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return len(listing)


def _get_small(rc: RemoteClient, repo: str, info: FileInfo, out: Path, tick: Progress | None) -> int:
    pieces = rc.iter_batch(repo, info.commit, info.path or "/", max_size=LARGE - 1)
    return batch.extract_batch(batch.piece_reader(pieces), out, progress=tick)


def get_file(rc: RemoteClient, repo: str, f: FileInfo, target: Path, progress: Progress | None) -> None:
    """One large file to ``target`` in parallel parts, through a temporary file renamed into place."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=".tmp")
    try:
        with contextlib.closing(os.fdopen(fd, "wb")) as fh:
            fh.truncate(f.size)
        _run_all(_part_tasks(rc, repo, f, Path(tmp), locked(progress), 1), WINDOW)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def part_size(size: int, files: int) -> int:
    """Bytes per ranged GET of a file of ``size`` bytes, one of ``files`` large files fetched together.

    Few, large parts: each request costs the server a name lookup and its first and last
    chunk read (and verified) whole, so a chunk cut by a part boundary is read twice; 16
    MiB parts of 4 MiB chunks read a quarter more than the file. With at least
    :data:`WINDOW` files the window is kept busy by whole files (up to :data:`PART`);
    with fewer, each file is cut into enough parts to fill it, none below
    :data:`MIN_PART` (nor above :data:`PART`).
    """
    if files >= WINDOW:
        return min(PART, max(size, 1))
    per_file = -(-WINDOW // max(files, 1))
    return min(PART, max(MIN_PART, -(-size // per_file)))


def _part_tasks(
    rc: RemoteClient, repo: str, f: FileInfo, tmp: Path, tick: Progress | None, files: int
) -> list[Callable[[], Any]]:
    """One task per part of ``f`` (:func:`part_size`): a ranged GET written at its offset in ``tmp``."""

    def part(start: int, length: int) -> Callable[[], int]:
        return lambda: _fetch_range(rc, repo, f, tmp, start, length, tick)

    step = part_size(f.size, files)
    return [part(s, min(step, f.size - s)) for s in range(0, f.size, step)]


def _fetch_range(
    rc: RemoteClient, repo: str, f: FileInfo, tmp: Path, start: int, length: int, tick: Progress | None
) -> int:
    """Bytes ``[start, start+length)`` of ``f`` (read from its commit) into ``tmp`` at ``start``.

    Through :mod:`datavc.ranges` (``readinto`` a buffer, one ``pwrite`` per few MiB);
    through httpx, piece by piece, when the environment names a proxy for the server.
    Anything but exactly ``length`` bytes of a 206 answer is an error.
    """
    what = f"{repo}@{f.commit[:12]}:/{f.path.strip('/')}"
    url = f"{rc._repo(repo)}/refs/{_q(f.commit)}/files/{_quote_path(f.path.strip('/'))}"
    reader = rc._ranges()
    if reader is not None:
        fd = os.open(tmp, os.O_WRONLY)
        try:
            n: int = reader.fetch(url, start, length, f.size, fd, what, tick)
            return n
        finally:
            os.close(fd)
    headers = {"Range": f"bytes={start}-{start + length - 1}"}
    pos = start
    fd = os.open(tmp, os.O_WRONLY)
    try:
        with rc._http.stream("GET", url, headers=headers) as resp:
            if resp.status_code >= 400:
                raise rc._error(resp)
            if resp.status_code != 206 and (start, length) != (0, f.size):
                raise errors.BackendUnavailable(f"the server ignored a byte range of {what}")
            for piece in resp.iter_raw():
                if pos + len(piece) > start + length:
                    raise errors.BackendUnavailable(f"the server sent more of {what} than asked for")
                os.pwrite(fd, piece, pos)
                pos += len(piece)
                if tick is not None:
                    tick(len(piece))
    except httpx.TransportError as err:
        raise errors.BackendUnavailable(f"the download of {what} from {rc.url} failed: {err}") from None
    finally:
        os.close(fd)
    if pos != start + length:
        raise errors.BackendUnavailable(
            f"the download of {what} stopped early ({pos - start} of {length} bytes)"
        )
    return length


def _q(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")


def _quote_path(path: str) -> str:
    from urllib.parse import quote

    return quote(path)


def put_walked(
    rc: RemoteClient,
    repo: str,
    branch: str,
    p: str,
    rows: Iterable[tuple[str, str, int]],
    message: str,
    commit: str | None,
    progress: Progress | None,
) -> CommitInfo:
    """Walked files, none of them large, as one batch stream under ``p``: into ``commit``, or one
    new commit made once the stream is complete (a cut stream makes none). ``rows`` may still
    be being walked (:mod:`datavc.walk_ahead`)."""
    batch_url = f"{rc._repo(repo)}/branches/{_q(branch)}/batch"
    params = {"path": p or "/", "message": message, "commit": commit}
    info: CommitInfo = rc._put(batch_url, params, iter_walked(rows, progress))
    return info


def iter_walked(found: Iterable[tuple[str, str, int]], progress: Progress | None) -> Iterator[bytes]:
    """A batch stream of files already walked (``batch.local_files`` rows)."""
    files = ((rel, size, batch.file_pieces(local, size, progress)) for local, rel, size in found)
    return batch.iter_batch(files)
