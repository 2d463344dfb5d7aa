"""Content-defined chunking (FastCDC, compiled) over streams, with bounded memory.

Boundaries depend only on the bytes since the previous boundary, so an edit in the
middle of a file changes only the chunks around it; the rest keep their ids and
deduplicate against earlier versions. See ``docs/storage.md`` for how the sizes
were chosen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True, slots=True)
class ChunkParams:
    """FastCDC sizes in bytes. Recorded in the store so later defaults never break dedup."""

    min_size: int = 2 * MiB
    avg_size: int = 4 * MiB
    max_size: int = 16 * MiB

    def __post_init__(self) -> None:
        if not 64 <= self.min_size <= self.avg_size <= self.max_size:
            raise ValueError(f"chunk sizes must satisfy 64 <= min <= avg <= max, got {self}")

    def as_dict(self) -> dict[str, int]:
        return {"min": self.min_size, "avg": self.avg_size, "max": self.max_size}

    @classmethod
    def from_dict(cls, d: dict[str, int]) -> ChunkParams:
        return cls(int(d["min"]), int(d["avg"]), int(d["max"]))


#: What a new store records. Stores created before keep what they recorded (512 KiB / 1 MiB /
#: 4 MiB): the sizes are read back at open, so dedup within an existing store never breaks.
DEFAULT_PARAMS = ChunkParams()
#: The sizes stores were created with before 4 MiB chunks (see ``docs/storage.md``).
LEGACY_PARAMS = ChunkParams(512 * KiB, 1 * MiB, 4 * MiB)
#: Files below this many bytes are packed with other small files rather than chunked (or below
#: the store's ``min_size``, when that is smaller): a file of a few hundred KiB is not worth a request.
SMALL_FILE_LIMIT = 512 * KiB


def cut_points(data: memoryview | bytes, params: ChunkParams) -> list[int]:
    """Lengths of the consecutive chunks FastCDC cuts ``data`` into."""
    # Imported here: the fastcdc package imports click and more, which read paths (a
    # listing, a checkout) never need.
    from fastcdc.fastcdc_cy import fastcdc_cy

    return [
        c.length
        for c in fastcdc_cy(data, params.min_size, params.avg_size, params.max_size, fat=False, hf=None)
    ]


#: What :func:`iter_chunks` allocates first; it grows fourfold up to its window.
_FIRST_BUFFER = 256 * 1024
#: Full-size windows kept for the next large stream (one per concurrent chunker, at most).
_KEEP_WINDOWS = 4


class _WindowPool:
    """Full-size chunking windows, reused from one large stream to the next.

    Why: a window is 32 MiB; a fresh one is fresh memory (``mmap``), and filling it
    page-faults every page of it: ~40 ms of CPU per window on the bench machine, more
    than cutting it (fastcdc, ~16 ms). A put of 20 x 50 MiB paid that, and the growth
    copies before it (256 KiB, 1, 4, 16, 32 MiB), for every file; a server storing
    uploads one request per file paid it per request, under its one GIL. A window
    handed back is reused (its old bytes are never read: only what the stream fills).
    """

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray | None:
        with self._lock:
            for i, buf in enumerate(self._free):
                if len(buf) == size:
                    return self._free.pop(i)
        return None

    def give(self, buf: bytearray) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buf)


_windows = _WindowPool(_KEEP_WINDOWS)


def iter_chunks(stream: BinaryIO, params: ChunkParams = DEFAULT_PARAMS) -> Iterator[bytes]:
    """Cut a stream into content-defined chunks, reading a fixed window at a time.

    Memory stays near the window's size whatever the stream's length. The last chunk of
    each window is held back and cut again with the following bytes, so the result is
    exactly what chunking the whole stream at once would give.
    """
    for view in iter_chunk_views(stream, params):
        yield bytes(view)


def iter_chunk_views(stream: BinaryIO, params: ChunkParams = DEFAULT_PARAMS) -> Iterator[memoryview]:
    """:func:`iter_chunks` without copying: each chunk is a view of the window, valid only
    until the next one is asked for (for a consumer that sends it on at once, a client
    uploading chunks)."""
    window = max(16 * MiB, 2 * params.max_size)
    # The buffer grows to the window only as the stream fills it: a zeroed 32 MiB
    # allocation per file cost ~7 ms of CPU, under the GIL, for every small put. A
    # window a large stream left behind is taken instead when there is one.
    buf = _windows.take(window) or bytearray(min(window, _FIRST_BUFFER))
    view = memoryview(buf)
    filled = 0
    eof = False
    try:
        while True:
            while not eof and filled < window:
                if filled == len(buf):
                    grown = bytearray(min(window, 4 * len(buf)))
                    grown[:filled] = view[:filled]
                    view.release()
                    buf, view = grown, memoryview(grown)
                n = stream.readinto(view[filled:])  # type: ignore[attr-defined]
                if not n:
                    eof = True
                else:
                    filled += n
            if not filled:
                return
            lengths = cut_points(view[:filled], params)
            if not eof and len(lengths) > 1:
                lengths.pop()  # may be cut short by the window's end: cut it again with more bytes
            pos = 0
            for n in lengths:
                chunk = view[pos : pos + n]
                yield chunk
                chunk.release()  # a consumer that kept it past its turn fails loudly
                pos += n
            if pos < filled:
                view[: filled - pos] = view[pos:filled]
            filled -= pos
            if eof and not filled:
                return
    finally:
        view.release()
        if len(buf) == window:
            _windows.give(buf)
