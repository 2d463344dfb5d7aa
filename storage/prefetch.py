"""Ordered reads with a bounded window of fetches in flight: downloads at the endpoint's limit.

A file of ``n`` chunks read one GET at a time waits ``n`` round trips; a remote endpoint
serves many requests at once, so the reader keeps up to ``window`` fetches running on a
thread pool while it consumes results in order. Memory stays bounded by ``window``
objects (about :data:`READ_AHEAD_BYTES`), never a whole file. The same object wanted
twice within the window (small files sharing a pack) is fetched once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from storage.chunking import ChunkParams

if TYPE_CHECKING:  # not at run time: concurrent.futures brings logging (a listing's start pays it)
    from concurrent.futures import Future, ThreadPoolExecutor

Fetch = Callable[[str], bytes]

#: Fetches in flight for a remote backend: what a raw parallel GET of many objects uses.
REMOTE_WINDOW = 16
#: Bytes one file read may fetch ahead of its consumer (in average-sized chunks).
READ_AHEAD_BYTES = 32 * 1024 * 1024


def read_window(params: ChunkParams) -> int:
    """Fetches one remote file read keeps in flight: :data:`READ_AHEAD_BYTES` of average
    chunks, between 4 and :data:`REMOTE_WINDOW`.

    Memory follows the chunk size: with 4 MiB chunks 8 fetches are ahead (~32 MiB), with
    1 MiB chunks 16; an export reading 4 files at once holds about four times that.
    """
    return max(4, min(REMOTE_WINDOW, READ_AHEAD_BYTES // params.avg_size))


def fetch_in_order(
    pool: ThreadPoolExecutor, fetch: Fetch, oids: Iterable[str], window: int
) -> Iterator[tuple[str, bytes]]:
    """``(oid, fetch(oid))`` for each of ``oids`` in order, with up to ``window`` fetches ahead.

    When the consumer stops early (an error, a range read that is done), fetches not yet
    started are cancelled; those running finish on the pool and are dropped.
    """
    source = iter(oids)
    pending: deque[tuple[str, Future[bytes]]] = deque()
    inflight: dict[str, tuple[Future[bytes], int]] = {}  # oid -> (future, uses within the window)

    def submit() -> bool:
        oid = next(source, None)
        if oid is None:
            return False
        known = inflight.get(oid)
        if known is not None:
            fut = known[0]
            inflight[oid] = (fut, known[1] + 1)
        else:
            fut = pool.submit(fetch, oid)
            inflight[oid] = (fut, 1)
        pending.append((oid, fut))
        return True

    try:
        more = True
        while more and len(pending) < window:
            more = submit()
        while pending:
            oid, fut = pending.popleft()
            f, uses = inflight[oid]
            if uses == 1:
                del inflight[oid]
            else:
                inflight[oid] = (f, uses - 1)
            data = fut.result()
            if more:
                more = submit()  # the window moves on once this fetch is done: at most ``window`` run
            yield oid, data
    finally:
        for _oid, fut in pending:
            fut.cancel()
