"""aws-chunked bodies as the AWS CLI and minio send them, signed by hand per the AWS spec
(the seed signature by botocore's own signer), and what a broken signature gets."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import botocore.auth
import httpx
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.datavc.server.s3.conftest import Gateway

STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY = hashlib.sha256(b"").hexdigest()


class _Fixed(SigV4Auth):
    """botocore's SigV4 signer with the payload mode of our choosing."""

    def __init__(self, creds: Credentials, mode: str) -> None:
        super().__init__(creds, "s3", "us-east-1")
        self.mode = mode

    def payload(self, request: AWSRequest) -> str:
        return self.mode


def _key(secret: str, day: str) -> bytes:
    k = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
    for part in ("us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def _signed_request(
    gw: Gateway,
    user: str,
    key: str,
    mode: str,
    decoded: int,
    headers: dict[str, str],
    *,
    chunked: bool = True,
) -> AWSRequest:
    ak, sk = gw.keys[user]
    req = AWSRequest(
        method="PUT",
        url=f"{gw.url}/data/{key}",
        headers={"x-amz-content-sha256": mode, **headers},
    )
    if chunked:
        req.headers["x-amz-decoded-content-length"] = str(decoded)
        req.headers["content-encoding"] = "aws-chunked"
    _Fixed(Credentials(ak, sk), mode).add_auth(req)
    return req


def _chunked(gw: Gateway, user: str, req: AWSRequest, pieces: list[bytes], *, break_chunk: int = -1) -> bytes:
    _, sk = gw.keys[user]
    amz_date = req.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    prev = req.headers["Authorization"].rsplit("Signature=", 1)[1]
    key = _key(sk, amz_date[:8])
    out = b""
    for i, data in enumerate([*pieces, b""]):
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY, hashlib.sha256(data).hexdigest()]
        )
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if i == break_chunk:
            sig = "0" * 64
        out += f"{len(data):x};chunk-signature={sig}\r\n".encode() + data + b"\r\n"
        prev = sig
    return out


def test_signed_aws_chunked_upload(gateway: Gateway) -> None:
    gateway.direct.create_branch("data", "chunked", "main")
    pieces = [b"a" * 65536, b"b" * 65536, b"tail"]
    req = _signed_request(gateway, "alice", "chunked/c.bin", STREAMING, sum(map(len, pieces)), {})
    body = _chunked(gateway, "alice", req, pieces)
    r = httpx.put(req.url, headers=dict(req.headers), content=body)
    assert r.status_code == 200, r.text
    assert gateway.direct.get_file("data", "chunked", "c.bin") == b"".join(pieces)


def test_a_bad_chunk_signature_stores_nothing(gateway: Gateway) -> None:
    gateway.direct.create_branch("data", "chunked2", "main")
    head = gateway.direct.inspect_commit("data", "chunked2").id
    pieces = [b"x" * 1000, b"y" * 1000]
    req = _signed_request(gateway, "alice", "chunked2/bad.bin", STREAMING, 2000, {})
    body = _chunked(gateway, "alice", req, pieces, break_chunk=1)
    r = httpx.put(req.url, headers=dict(req.headers), content=body)
    assert r.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.content
    assert gateway.direct.inspect_commit("data", "chunked2").id == head


def test_unsigned_payload_with_a_checksum_trailer(gateway: Gateway) -> None:
    gateway.direct.create_branch("data", "trailer", "main")
    data = b"hello trailer"
    req = _signed_request(
        gateway,
        "alice",
        "trailer/t.txt",
        UNSIGNED_TRAILER,
        len(data),
        {"x-amz-trailer": "x-amz-checksum-crc32"},
    )
    body = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    r = httpx.put(req.url, headers=dict(req.headers), content=body)
    assert r.status_code == 200, r.text
    assert gateway.direct.get_file("data", "trailer", "t.txt") == data


def test_a_body_that_does_not_match_its_sha256_is_refused(gateway: Gateway) -> None:
    gateway.direct.create_branch("data", "sha", "main")
    head = gateway.direct.inspect_commit("data", "sha").id
    promised = hashlib.sha256(b"promised").hexdigest()
    req = _signed_request(gateway, "alice", "sha/x.txt", promised, 8, {}, chunked=False)
    r = httpx.put(req.url, headers=dict(req.headers), content=b"tampered")
    assert r.status_code == 400 and b"XAmzContentSHA256Mismatch" in r.content
    assert gateway.direct.inspect_commit("data", "sha").id == head


def test_an_old_request_is_refused(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    ak, sk = gateway.keys["bob"]
    req = AWSRequest(method="GET", url=f"{gateway.url}/data/main/a.txt")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: datetime(2020, 1, 1, tzinfo=UTC))
    S3SigV4Auth(Credentials(ak, sk), "s3", "us-east-1").add_auth(req)
    r = httpx.get(req.url, headers=dict(req.headers))
    assert r.status_code == 403 and b"<Code>RequestTimeTooSkewed</Code>" in r.content, r.text
