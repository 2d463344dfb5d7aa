"""The S3 backend's direct GETs (storage.backends.s3_direct): same bytes as boto3, boto3 on any
failure, and nothing secret (a signature, a key) in an error or a log line."""

from __future__ import annotations

import http.server
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from storage.backends.s3 import S3Backend
from storage.errors import BackendUnavailable, CorruptObject, ObjectNotFound
from storage.hashing import HashAlgorithm
from storage.store import ObjectStore
from tests.helpers import make_bucket, use_s3_endpoint

XXH = HashAlgorithm("xxh3-128")
SECRET = "sEcReT-kEy-that-must-never-show"


def _no_boto3_get(backend: S3Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_kw: Any) -> Any:
        raise AssertionError("the GET went through boto3")

    monkeypatch.setattr(backend.raw_client, "get_object", refuse)


def test_direct_get_returns_the_objects_bytes(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_s3_endpoint(monkeypatch, s3_endpoint)
    bucket = make_bucket(s3_endpoint)
    backend = S3Backend(f"s3://{bucket}/a prefix/with~odd+chars")  # quoted as boto3 quotes it
    blobs = [b"", b"x", os.urandom(3 * 1024 * 1024 + 17)]
    for data in blobs:
        backend.put(XXH.digest(data), data)
    _no_boto3_get(backend, monkeypatch)
    for data in blobs:
        assert backend.get(XXH.digest(data)) == data
    backend.close()


def test_direct_get_falls_back_to_boto3(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = S3Backend(s3_url)
    with pytest.raises(ObjectNotFound):  # a 404 is answered by boto3's GET, with its error
        backend.get(XXH.digest(b"absent"))
    monkeypatch.setenv("DATAVC_S3_DIRECT", "0")
    off = S3Backend(s3_url)
    data = b"through boto3"
    off.put(XXH.digest(data), data)
    assert off.get(XXH.digest(data)) == data
    assert off._direct_gets() is None
    off.close()
    backend.close()


def test_store_still_verifies_direct_reads(s3_url: str) -> None:
    store = ObjectStore.init(s3_url)
    backend = store.backend
    assert isinstance(backend, S3Backend)
    good = XXH.digest(b"the real bytes")
    backend.put(good, b"other bytes")  # a damaged or hostile copy under a valid id
    with pytest.raises(CorruptObject):
        store.get_object(good)
    store.close()


class _Hostile(http.server.BaseHTTPRequestHandler):
    """Answers every request with a 500 whose body echoes the request's headers."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = "".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode()
        body += self.path.encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def hostile_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_no_signature_or_secret_in_errors_or_logs(
    hostile_endpoint: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-secret")
    monkeypatch.setattr("storage.backends.s3.time.sleep", lambda _s: None)
    backend = S3Backend("s3://bucket/p", endpoint_url=hostile_endpoint, max_attempts=2, read_timeout=5)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BackendUnavailable) as info:
        backend.get(XXH.digest(b"x"))
    assert backend._direct_gets() is not None  # the direct path was tried, then boto3
    # Ours only: botocore's own DEBUG lines show request headers, as they always did.
    ours = [r for r in caplog.records if r.name.startswith("storage")]
    assert any("direct GET answered 500" in r.getMessage() for r in ours)
    seen = [str(info.value), repr(info.value), *(r.getMessage() for r in ours)]
    for text in seen:
        for secret in (SECRET, "session-token-secret", "Signature", "X-Amz-", "Authorization"):
            assert secret not in text, text
    assert "kept failing" in str(info.value)
    for _ in range(2):  # an endpoint that never answers a direct GET: the path turns itself off
        with pytest.raises(BackendUnavailable):
            backend.get(XXH.digest(b"x"))
    direct = backend._direct_gets()
    assert direct is not None and direct._off
    backend.close()
