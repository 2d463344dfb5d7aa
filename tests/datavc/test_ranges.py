"""Ranged GETs of large files through ``http.client`` (``datavc/ranges.py``), against a real server.

One plain server and one TLS server (a trustme CA) for the module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from datavc import errors, ranges, transfer
from datavc.client import Client
from datavc.remote import RemoteClient
from tests.datavc.server.conftest import Server, start_server

KiB = 1024
DATA = os.urandom(300 * KiB + 11)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    direct = Client.init(tmp_path_factory.mktemp("ranges") / "store")
    direct.create_repo("r")
    direct.put_file("r", "main", "/big.bin", DATA)
    server = start_server(direct)
    yield server
    server.stop()
    direct.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    tmp = tmp_path_factory.mktemp("ranges-tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_pem, key_pem, ca_pem = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_pem))
    cert.private_key_pem.write_to_path(str(key_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    direct = Client.init(tmp / "store")
    direct.create_repo("r")
    direct.put_file("r", "main", "/big.bin", DATA)
    server = start_server(direct, ssl_certfile=str(cert_pem), ssl_keyfile=str(key_pem))
    yield server, str(ca_pem)
    server.stop()
    direct.close()


def _fetch(rc: RemoteClient, path: Path, start: int, length: int, whole: int = len(DATA)) -> int:
    reader = rc._ranges()
    assert reader is not None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        return reader.fetch("/api/v1/repos/r/refs/main/files/big.bin", start, length, whole, fd, "r:/big.bin")
    finally:
        os.close(fd)


def test_parts_land_at_their_offsets_over_one_kept_alive_connection(srv: Server, tmp_path: Path) -> None:
    rc = srv.client(srv.admin_token)
    out = tmp_path / "out.bin"
    out.write_bytes(b"\0" * len(DATA))
    cut = 123_457
    assert _fetch(rc, out, cut, len(DATA) - cut) == len(DATA) - cut
    assert _fetch(rc, out, 0, cut) == cut
    assert out.read_bytes() == DATA
    reader = rc._ranges()
    assert reader is not None and len(reader._pool._idle) == 1  # the second request reused the connection


def test_an_answer_shorter_than_asked_is_an_error(srv: Server, tmp_path: Path) -> None:
    rc = srv.client(srv.admin_token)
    # One byte past the end: the server clips the range, so the answer is one byte short.
    with pytest.raises(errors.BackendUnavailable, match="stopped early"):
        _fetch(rc, tmp_path / "x", len(DATA) - 10, 11, len(DATA) + 1)
    reader = rc._ranges()
    assert reader is not None and reader._pool._idle == []  # a failed answer's connection is not reused


def test_error_answers_map_as_on_every_other_request(srv: Server, tmp_path: Path) -> None:
    reader = srv.client(srv.admin_token)._ranges()
    assert reader is not None
    fd = os.open(tmp_path / "x", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with pytest.raises(errors.NotFound, match="no-such"):
            reader.fetch("/api/v1/repos/r/refs/main/files/no-such", 0, 10, 10, fd, "r:/no-such")
        forged = srv.client("forged-token")._ranges()
        assert forged is not None
        with pytest.raises(errors.Unauthenticated):
            forged.fetch("/api/v1/repos/r/refs/main/files/big.bin", 0, 10, len(DATA), fd, "r:/big.bin")
    finally:
        os.close(fd)


def test_tls_is_checked_against_the_clients_ca(tls: tuple[Server, str], tmp_path: Path) -> None:
    server, ca_pem = tls
    good = RemoteClient(server.url, server.admin_token, verify=ca_pem)
    untrusting = RemoteClient(server.url, server.admin_token)
    try:
        assert _fetch(good, tmp_path / "ok.bin", 0, len(DATA)) == len(DATA)
        assert (tmp_path / "ok.bin").read_bytes() == DATA
        with pytest.raises(errors.BackendUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            _fetch(untrusting, tmp_path / "no.bin", 0, 10)
    finally:
        good.close()
        untrusting.close()


def test_through_a_proxy_the_httpx_path_is_kept(
    srv: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert ranges.proxied("http://example.com:8080")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert not ranges.proxied(srv.url)
    monkeypatch.setenv("NO_PROXY", "")
    assert ranges.direct_reader(srv.url, {}, True, 5.0, RemoteClient._error_for) is None

    # Without the reader, large files still come in parts (over httpx) and round-trip.
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("NO_PROXY")
    rc = srv.client(srv.admin_token)
    monkeypatch.setattr(rc, "_ranges", lambda: None)
    monkeypatch.setattr(transfer, "LARGE", 64 * KiB)
    monkeypatch.setattr(transfer, "PART", 100 * KiB)
    assert rc.get_to_path("r", "main", "/", tmp_path / "out") == 1
    assert (tmp_path / "out" / "big.bin").read_bytes() == DATA


@pytest.mark.parametrize(
    ("size", "files", "part"),
    [
        (50 * transfer.MiB, 20, 50 * transfer.MiB),  # enough files: one request each
        (200 * transfer.MiB, 20, transfer.PART),  # ... but no part above PART
        (50 * transfer.MiB, 1, 13 * transfer.MiB - transfer.MiB // 2),  # one file: cut to fill the window
        (9 * transfer.MiB, 1, transfer.MIN_PART),  # ... but no part below MIN_PART
    ],
)
def test_part_size(size: int, files: int, part: int) -> None:
    assert transfer.part_size(size, files) == part
