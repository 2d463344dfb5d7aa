"""``datavc.server.bodies``: a request body read from a worker thread, pieces gathered per hand-off."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator

import anyio
import pytest

from datavc.server import bodies

KiB = 1024


async def _pieces(parts: list[bytes]) -> AsyncIterator[bytes]:
    for p in parts:
        yield p
    yield b""  # as Starlette's Request.stream() ends


def _read_all(parts: list[bytes], sizes: list[int]) -> tuple[bytes, int]:
    """Read ``parts`` through a BodyReader in reads of ``sizes`` (cycled); returns (bytes, hand-offs)."""
    raw = bodies.BodyReader(_pieces(parts))
    hops = 0
    real = raw._next

    def counted() -> list[bytes]:
        nonlocal hops
        hops += 1
        return real()

    raw._next = counted  # type: ignore[method-assign]

    def work() -> bytes:
        out = bytearray()
        i = 0
        while True:
            buf = bytearray(sizes[i % len(sizes)])
            n = raw.readinto(buf)
            if not n:
                return bytes(out)
            out += buf[:n]
            i += 1

    async def main() -> bytes:
        return await anyio.to_thread.run_sync(work)

    return anyio.run(main), hops


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reads_of_any_size_get_every_byte_in_order(seed: int) -> None:
    rnd = random.Random(seed)
    parts = [os.urandom(rnd.choice([0, 1, 7, 300, 64 * KiB, 200 * KiB])) for _ in range(40)]
    got, _ = _read_all(parts, [1, 5, 4096, 333 * KiB, 3 * 1024 * KiB])
    assert got == b"".join(parts)


def test_pieces_are_handed_over_a_few_megabytes_at_a_time() -> None:
    parts = [os.urandom(64 * KiB) for _ in range(128)]  # 8 MiB in the pieces uvicorn delivers
    got, hops = _read_all(parts, [32 * 1024 * KiB])
    assert got == b"".join(parts)
    assert hops <= 4  # 2 of 4 MiB, then the end (one hand-off per piece would be 129)


def test_an_empty_body_reads_as_empty() -> None:
    assert _read_all([], [10])[0] == b""
