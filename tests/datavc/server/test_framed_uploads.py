"""Framed uploads (``?framed=true``): the client cuts, the server hashes every chunk it receives.

A large file goes up as frames when the server says its chunk sizes (``GET /api/v1/store``),
as its plain bytes to a server that does not; a hostile framed body is refused with 400
and commits nothing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from datavc import framing, transfer
from storage.chunking import iter_chunks
from tests.datavc.server.conftest import Server

MiB = 1024 * 1024


def _count_framed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Chunks the server read from framed bodies (it runs in this process)."""
    seen: list[int] = []
    real = framing.read_frames

    def counted(more: Callable[[], Sequence[bytes]], max_size: int) -> object:
        for chunk in real(more, max_size):
            seen.append(sum(len(p) for p in chunk))
            yield chunk

    monkeypatch.setattr(framing, "read_frames", counted)
    return seen


def test_a_large_file_goes_up_framed_and_is_cut_as_the_server_cuts(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _count_framed(monkeypatch)
    # Past the largest chunk, so at least two chunks whatever the random bytes (9 MiB was
    # sometimes one chunk: no cut point between 2 and 9 MiB).
    data = os.urandom(max(transfer.LARGE, server.direct.chunking().max_size) + MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    rc = server.client(server.admin_token)
    rc.create_repo("r")
    assert rc.chunking() == server.direct.chunking()
    rc.put_file("r", "main", "/big.bin", src)
    cuts = [len(c) for c in iter_chunks(io.BytesIO(data), server.direct.chunking())]
    assert seen == cuts and len(cuts) > 1
    assert rc.get_file("r", "main", "/big.bin") == data
    # the same content from a direct put deduplicates: the ids are the server's
    server.direct.put_file("r", "main", "/again.bin", data)
    a, b = (server.direct.inspect_file("r", "main", p) for p in ("/big.bin", "/again.bin"))
    assert a.hash == b.hash


def test_an_older_server_gets_the_files_bytes(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _count_framed(monkeypatch)
    routes = server._server.config.app.router.routes  # type: ignore[attr-defined]
    routes[:] = [r for r in routes if not (isinstance(r, APIRoute) and r.path == "/api/v1/store")]
    data = os.urandom(transfer.LARGE)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "big.bin").write_bytes(data)
    rc = server.client(server.admin_token)
    rc.create_repo("r")
    rc.put_file("r", "main", "/d", tmp_path / "d")
    assert seen == []
    assert rc.get_file("r", "main", "/d/big.bin") == data


def test_hostile_framed_bodies_are_refused_and_commit_nothing(server: Server) -> None:
    params = server.direct.chunking()
    server.direct.create_repo("r")
    h = framing.HEADER.pack
    bodies = {
        "oversize": h(params.max_size + 1) + b"x" * 10 + framing.END,
        "a lie about its length": h(3 * MiB) + b"x" * 10,
        "cut before the end frame": h(10) + b"x" * 10,
        "a short chunk that is not the last": h(10) + b"x" * 10 + h(10) + b"y" * 10 + framing.END,
        "bytes after the end": h(10) + b"x" * 10 + framing.END + b"z",
    }
    url = f"{server.url}/api/v1/repos/r/branches/main/files/f.bin"
    with httpx.Client(headers={"Authorization": f"Bearer {server.admin_token}"}) as http:
        for what, body in bodies.items():
            resp = http.put(url, params={"framed": "true"}, content=body)
            assert resp.status_code == 400, (what, resp.text)
            assert resp.json()["error"]["category"] == "invalid argument", what
        ok = http.put(url, params={"framed": "true"}, content=h(10) + b"x" * 10 + framing.END)
        assert ok.status_code == 200, ok.text
    assert server.direct.get_file("r", "main", "/f.bin") == b"x" * 10
    assert len(list(server.direct.log("r", "main"))) == 1  # the good put's, and no other
