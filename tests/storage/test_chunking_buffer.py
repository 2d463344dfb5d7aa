"""iter_chunks grows its read buffer with the stream instead of allocating its whole window per file."""

from __future__ import annotations

import io
import random
import tracemalloc
from typing import BinaryIO, cast

from storage.chunking import DEFAULT_PARAMS, LEGACY_PARAMS, MiB, cut_points, iter_chunks


def test_a_small_stream_does_not_allocate_the_whole_window() -> None:
    list(iter_chunks(io.BytesIO(b"warm"), DEFAULT_PARAMS))  # fastcdc's import is not counted
    tracemalloc.start()
    try:
        chunks = list(iter_chunks(io.BytesIO(b"seed"), DEFAULT_PARAMS))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert chunks == [b"seed"]
    assert peak < 4 * MiB  # the window is 32 MiB: ~7 ms of CPU per small put when zeroed whole


def test_growing_the_buffer_cuts_as_chunking_the_whole_stream_at_once() -> None:
    data = random.Random(7).randbytes(40 * MiB + 12345)  # past the first buffer, two windows
    for params in (DEFAULT_PARAMS, LEGACY_PARAMS):
        got = [len(c) for c in iter_chunks(io.BytesIO(data), params)]
        assert got == cut_points(data, params)
        assert sum(got) == len(data)


class _Trickle(io.RawIOBase):
    """A stream that returns at most 1000 bytes per read (a pipe, a socket)."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        n = min(len(b), 1000, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def test_short_reads_fill_the_grown_buffer() -> None:
    data = random.Random(8).randbytes(3 * MiB + 7)
    got = b"".join(iter_chunks(cast(BinaryIO, _Trickle(data)), LEGACY_PARAMS))
    assert got == data


def test_a_large_streams_window_is_reused_and_its_old_bytes_never_read() -> None:
    from storage import chunking

    first = random.Random(9).randbytes(40 * MiB)
    second = random.Random(10).randbytes(33 * MiB + 5)  # shorter than what the window last held
    list(iter_chunks(io.BytesIO(first), DEFAULT_PARAMS))
    window = max(16 * MiB, 2 * DEFAULT_PARAMS.max_size)
    kept = chunking._windows.take(window)
    assert kept is not None  # the first stream handed its window back
    chunking._windows.give(kept)
    got = list(iter_chunks(io.BytesIO(second), DEFAULT_PARAMS))
    assert [len(c) for c in got] == cut_points(second, DEFAULT_PARAMS)
    assert b"".join(got) == second
