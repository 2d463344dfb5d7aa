"""Framed uploads: one file's bytes as the chunks the client cut, for the server to hash and store.

Why: a server that chunks every upload itself runs FastCDC and copies each byte twice
more under its one GIL, beside the event loop that receives the bytes; on 2 cores a
remote put of 20 x 50 MiB took 2.5x as long as a direct one. The client has the CPU to
spare, so it cuts (the same FastCDC with the store's sizes, ``GET /api/v1/store``) and
sends each chunk as a frame; the server only hashes each frame and writes it as it
came. It still computes every id from the bytes it received (docs/security.md): a
client can choose the cut points, which costs only its own dedup.

The body (``PUT .../files/{path}?framed=true``) is a sequence of frames, each a 4-byte
big-endian length and that many bytes, ended by a frame of length 0. A frame longer than
the store's ``max_size`` is refused before it is read; a body that ends without the end
frame, or goes on after it, is refused; nothing is committed then.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence

from datavc.errors import InvalidArgument
from storage.chunking import ChunkParams, iter_chunk_views
from storage.writer import Chunk, chunk_size

HEADER = struct.Struct(">I")
END = HEADER.pack(0)
#: Most bytes handed to the HTTP client at once. It copies each piece it is given into a new
#: buffer (chunked encoding); pieces of one size reuse the same memory, where chunks of 2-16
#: MiB took fresh pages every time (a page fault per 4 KiB: a third of the client's system time).
SEND_PIECE = 1024 * 1024


def frames(chunks: Iterable[Chunk]) -> Iterator[bytes | memoryview]:
    """A framed body for ``chunks`` (pieces to send as they are: no chunk is copied)."""
    for chunk in chunks:
        n = chunk_size(chunk)
        if n:
            yield HEADER.pack(n)
            for piece in [chunk] if isinstance(chunk, bytes | bytearray | memoryview) else chunk:
                view = memoryview(piece)
                for i in range(0, len(view), SEND_PIECE):
                    yield view[i : i + SEND_PIECE]
    yield END


def read_frames(more: Callable[[], Sequence[bytes]], max_size: int) -> Iterator[list[memoryview]]:
    """The chunks of a framed body that ``more()`` hands over a few pieces at a time (none at its end).

    Each chunk is the list of views of the received pieces that hold it: nothing is
    copied (a piece that holds the end of one chunk and the start of the next is shared).

    Raises:
        InvalidArgument: a frame over ``max_size`` bytes, a body cut short (in a frame, or
            before the end frame), or bytes after the end frame.
    """
    body = _Pieces(more)
    while True:
        head = body.take(HEADER.size)
        if head is None:
            raise InvalidArgument("the upload was cut: the body ended before its end frame")
        (n,) = HEADER.unpack(b"".join(head))
        if n == 0:
            if not body.at_end():
                raise InvalidArgument("the upload goes on after its end frame")
            return
        if n > max_size:
            raise InvalidArgument(f"a frame of {n} bytes: the store's chunks are at most {max_size} bytes")
        chunk = body.take(n)
        if chunk is None:
            raise InvalidArgument(f"the upload was cut in a frame of {n} bytes")
        yield chunk


class _Pieces:
    """Received pieces, taken from the front by byte counts."""

    def __init__(self, more: Callable[[], Sequence[bytes]]) -> None:
        self._more = more
        self._ready: deque[memoryview] = deque()
        self._eof = False

    def _fill(self) -> bool:
        """Fetch pieces if none is at hand; False at the body's end."""
        while not self._ready and not self._eof:
            got = self._more()
            self._ready.extend(memoryview(p) for p in got if p)
            self._eof = not got
        return bool(self._ready)

    def take(self, n: int) -> list[memoryview] | None:
        """Views of the next ``n`` bytes; None when the body ends first."""
        out: list[memoryview] = []
        ready = self._ready
        while n:
            if not self._fill():
                return None
            head = ready[0]
            if len(head) <= n:
                out.append(ready.popleft())
                n -= len(head)
            else:
                out.append(head[:n])
                ready[0] = head[n:]
                n = 0
        return out

    def at_end(self) -> bool:
        return not self._fill()


def file_frames(
    path: str, params: ChunkParams, progress: Callable[[int], None] | None = None
) -> Iterator[bytes | memoryview]:
    """A local file as a framed body: cut here with ``params`` (the store's sizes), read to its end.

    Raises:
        InvalidArgument: the file cannot be read.
    """
    try:
        with open(path, "rb", buffering=0) as f:
            yield from frames(_ticked(iter_chunk_views(f, params), progress))
    except OSError as err:
        raise InvalidArgument(f"cannot read {path}: {err.strerror}") from None


def _ticked(chunks: Iterator[memoryview], progress: Callable[[int], None] | None) -> Iterator[memoryview]:
    for chunk in chunks:
        if progress is not None:
            progress(len(chunk))
        yield chunk
