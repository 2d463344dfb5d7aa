"""``Writer.put_chunks``: a file given as chunks someone else cut; every chunk hashed here, sizes checked."""

from __future__ import annotations

import io
import os

import pytest

from storage.chunking import iter_chunks
from storage.errors import InvalidInput
from storage.store import ObjectStore


def test_chunks_cut_as_the_store_cuts_give_the_entry_a_stream_gives(mem_store: ObjectStore) -> None:
    data = os.urandom(5 * mem_store.config.chunking.max_size)
    chunks = [memoryview(bytearray(c)) for c in iter_chunks(io.BytesIO(data), mem_store.config.chunking)]
    assert len(chunks) > 2
    with mem_store.writer() as w:
        given = w.put_chunks(chunks, "f")
    with mem_store.writer() as w:
        streamed = w.put_stream(io.BytesIO(data), "f")
        assert w.stats.objects_written == 0  # every chunk deduplicates against the given ones
    assert given == streamed
    assert mem_store.read_bytes(given) == data


def test_other_cuts_are_stored_right_within_the_bounds(mem_store: ObjectStore) -> None:
    p = mem_store.config.chunking
    parts = [os.urandom(p.max_size), os.urandom(p.min_size), os.urandom(1)]
    with mem_store.writer() as w:
        entry = w.put_chunks(parts, "g")
    assert [r.length for r in entry.refs] == [len(x) for x in parts]
    assert mem_store.read_bytes(entry) == b"".join(parts)


def test_chunks_in_pieces_are_hashed_and_written_piece_by_piece(store: ObjectStore) -> None:
    data = os.urandom(3 * store.config.chunking.max_size)
    chunks = list(iter_chunks(io.BytesIO(data), store.config.chunking))
    pieces = [[memoryview(c)[i : i + 1000] for i in range(0, len(c), 1000)] for c in chunks]
    with store.writer() as w:
        entry = w.put_chunks(pieces, "p")
    with store.writer() as w:
        assert w.put_chunks(chunks, "p") == entry
        assert w.stats.objects_written == 0
    assert store.read_bytes(entry) == data


def test_chunks_a_cutter_would_not_give_are_refused(mem_store: ObjectStore) -> None:
    p = mem_store.config.chunking
    for bad, why in (
        ([b"x" * (p.max_size + 1)], "chunks are 1 to"),
        ([b"x" * p.min_size, b""], "chunks are 1 to"),
        ([b"x" * (p.min_size - 1), b"y" * p.min_size], "was not the file's last"),
    ):
        with mem_store.writer() as w, pytest.raises(InvalidInput, match=why):
            w.put_chunks(bad, "h")
