"""Chunking: reassembly, window independence, locality of edits."""

from __future__ import annotations

import io
import os

from hypothesis import given
from hypothesis import strategies as st

from storage.chunking import ChunkParams, cut_points, iter_chunks

TINY = ChunkParams(min_size=64, avg_size=256, max_size=1024)


@given(st.binary(max_size=20_000))
def test_chunk_then_reassemble_gives_the_same_bytes(data: bytes) -> None:
    chunks = list(iter_chunks(io.BytesIO(data), TINY))
    assert b"".join(chunks) == data
    assert all(0 < len(c) <= TINY.max_size for c in chunks)


class Trickle(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read, like a pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._step = step
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self._step, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@given(st.integers(min_value=1, max_value=5000), st.integers(min_value=0, max_value=2**32))
def test_streaming_cuts_equal_whole_buffer_cuts(step: int, seed: int) -> None:
    import random

    data = random.Random(seed).randbytes(30_000)
    whole = cut_points(data, TINY)
    streamed = [len(c) for c in iter_chunks(Trickle(data, step), TINY)]  # type: ignore[arg-type]
    assert streamed == whole


def test_window_boundaries_do_not_change_cuts() -> None:
    params = ChunkParams(4096, 16384, 65536)  # window is 16 MiB: cross it several times
    data = os.urandom(40 * 1024 * 1024)
    assert [len(c) for c in iter_chunks(io.BytesIO(data), params)] == cut_points(data, params)


def test_an_edit_changes_only_nearby_chunks() -> None:
    params = ChunkParams(4096, 16384, 65536)
    data = bytearray(os.urandom(2_000_000))
    before = set(iter_chunks(io.BytesIO(bytes(data)), params))
    data[1_000_000:1_000_004] = b"EDIT"
    after = list(iter_chunks(io.BytesIO(bytes(data)), params))
    changed = [c for c in after if c not in before]
    assert sum(len(c) for c in changed) <= 3 * params.max_size
