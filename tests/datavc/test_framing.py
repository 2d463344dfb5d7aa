"""``datavc.framing``: framed uploads parsed with every hostile shape refused before it costs memory."""

from __future__ import annotations

import io

import pytest

from datavc import framing
from datavc.errors import InvalidArgument

MAX = 1000


def _handed(body: bytes, piece: int) -> list[list[bytes]]:
    """``body`` cut into pieces of ``piece`` bytes, handed over two at a time (then none: the end)."""
    pieces = [body[i : i + piece] for i in range(0, len(body), piece)]
    return [pieces[i : i + 2] for i in range(0, len(pieces), 2)] + [[]]


def _read(body: bytes, piece: int = 7) -> list[bytes]:
    hand = iter(_handed(body, piece))
    return [b"".join(c) for c in framing.read_frames(lambda: next(hand), MAX)]


def test_frames_round_trip_and_skip_empty_chunks() -> None:
    chunks = [b"a" * MAX, b"", b"bc", memoryview(b"def"), [b"g", memoryview(b"hi")]]
    body = b"".join(bytes(p) for p in framing.frames(chunks))
    assert body.endswith(framing.END)
    for piece in (1, 3, 7, 4096):  # frames and headers split across pieces anywhere
        assert _read(body, piece) == [b"a" * MAX, b"bc", b"def", b"ghi"]
    assert _read(framing.END) == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (framing.HEADER.pack(MAX + 1) + b"x", "at most 1000 bytes"),  # refused before it is read
        (framing.HEADER.pack(2**32 - 1), "at most 1000 bytes"),
        (framing.HEADER.pack(10) + b"short", "cut in a frame of 10 bytes"),  # a lie about its length
        (framing.HEADER.pack(3) + b"abc", "ended before its end frame"),  # cut between frames
        (framing.HEADER.pack(3) + b"abc" + b"\0\0", "ended before its end frame"),  # in a header
        (b"", "ended before its end frame"),
        (framing.END + b"more", "goes on after its end frame"),
    ],
)
def test_hostile_bodies_are_refused(body: bytes, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        _read(body)


def test_file_frames_cut_with_the_given_sizes(tmp_path: object) -> None:
    from pathlib import Path

    from storage.chunking import ChunkParams, iter_chunks

    params = ChunkParams(64, 256, 1024)
    data = bytes(range(256)) * 40
    src = Path(str(tmp_path)) / "f.bin"
    src.write_bytes(data)
    seen: list[int] = []
    body = b"".join(bytes(p) for p in framing.file_frames(str(src), params, seen.append))
    hand = iter(_handed(body, 1000))
    got = [b"".join(c) for c in framing.read_frames(lambda: next(hand), params.max_size)]
    assert got == list(iter_chunks(io.BytesIO(data), params))
    assert sum(seen) == len(data)
    with pytest.raises(InvalidArgument, match="cannot read"):
        list(framing.file_frames(str(src) + ".missing", params))
