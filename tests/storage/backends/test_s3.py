"""S3Backend specifics: URLs, endpoint selection, key layout and error mapping.

The generic put/get/exists/delete/iter_ids behaviour is in the backend contract suite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import IncompleteReadError
from botocore.stub import Stubber

from storage.backends.s3 import S3Backend, parse_s3_url
from storage.errors import BackendUnavailable, InvalidInput, ObjectNotFound
from storage.hashing import HashAlgorithm
from tests.helpers import make_bucket

XXH = HashAlgorithm("xxh3-128")


def _returns_within(fn: Callable[[], Any], seconds: float = 120) -> BaseException | None:
    """Run ``fn`` in a thread; fail the test if it hangs; return what it raised."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
        except BaseException as err:
            outcome.append(err)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn} did not return within {seconds}s"
    return outcome[0]


# -- URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("s3://my.bucket-1/a/b/", "my.bucket-1", "a/b"),
        ("s3://bucket/store", "bucket", "store"),
    ],
)
def test_parse_url(url: str, bucket: str, prefix: str) -> None:
    assert parse_s3_url(url) == (bucket, prefix)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "bucket/prefix",
        "/tmp/store",
        "http://bucket/prefix",
        "s3:/bucket/prefix",
        "s3://",
        "s3:///prefix",
        "s3://ab",
        "s3://Bucket/prefix",
        "s3://my_bucket/prefix",
        "s3://-bucket/prefix",
        "s3://bucket../prefix",
        "s3://" + "b" * 64,
        "s3://key:secret@bucket/prefix",
        "s3://bucket:9000/prefix",
        "s3://bucket/prefix?versionId=1",
        "s3://bucket/prefix#frag",
        "s3://bucket/a//b",
        "s3://bucket/a/../b",
        "s3://bucket/./b",
    ],
)
def test_malformed_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        S3Backend(url)
    assert repr(url) in str(info.value)


def test_url_is_normalised() -> None:
    backend = S3Backend("s3://bucket/a/b/", endpoint_url="http://127.0.0.1:9")
    assert backend.url == "s3://bucket/a/b"
    assert S3Backend("s3://bucket/", endpoint_url="http://127.0.0.1:9").url == "s3://bucket"
    backend.close()


def test_malformed_endpoint_is_refused() -> None:
    with pytest.raises(InvalidInput, match="invalid S3 endpoint URL 'not a url'"):
        S3Backend("s3://bucket", endpoint_url="not a url")


def test_limits_are_validated() -> None:
    with pytest.raises(InvalidInput, match="max_attempts"):
        S3Backend("s3://bucket", max_attempts=0)
    with pytest.raises(InvalidInput, match="max_pool_connections"):
        S3Backend("s3://bucket", max_pool_connections=0)


# -- endpoint and layout ------------------------------------------------------------------


def test_endpoint_from_environment(s3_url: str, s3_endpoint: str) -> None:
    backend = S3Backend(s3_url)  # AWS_ENDPOINT_URL is set by the fixture, no explicit endpoint
    assert backend.endpoint == s3_endpoint
    config: Any = backend.raw_client.meta.config
    assert config.s3 == {"addressing_style": "path"}
    data = b"hello s3"
    oid = XXH.digest(data)
    backend.put(oid, data)
    assert backend.get(oid) == data
    assert backend.exists(oid)
    backend.close()


def test_explicit_endpoint_wins(s3_url: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    backend = S3Backend(s3_url, endpoint_url=s3_endpoint)
    assert backend.endpoint == s3_endpoint
    oid = XXH.digest(b"x")
    backend.put(oid, memoryview(b"x"))
    assert backend.get(oid) == b"x"
    backend.close()


def test_aws_endpoint_keeps_virtual_hosting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    backend = S3Backend("s3://bucket/p")  # never contacted
    assert backend.endpoint.endswith(".amazonaws.com")
    config: Any = backend.raw_client.meta.config
    assert config.s3 == {"addressing_style": "auto"}
    assert config.retries == {"total_max_attempts": 5, "mode": "standard"}
    assert config.signature_version == "s3v4"
    backend.close()


def test_key_layout(s3_url: str) -> None:
    backend = S3Backend(s3_url)
    client = backend.raw_client
    data = b"layout"
    oid = XXH.digest(data)
    backend.put(oid, data)
    backend.write_meta("config", b"{}")
    bucket = backend.bucket
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted([f"store/objects/{oid[:2]}/{oid}", "store/config"])
    assert list(backend.iter_ids()) == [oid]  # metadata documents are not objects
    assert backend.read_meta("config") == b"{}"
    backend.close()


def test_prefixes_are_separate_stores(s3_url: str) -> None:
    a = S3Backend(s3_url + "/a")
    b = S3Backend(s3_url + "/b")
    oid = XXH.digest(b"only in a")
    a.put(oid, b"only in a")
    assert not b.exists(oid)
    with pytest.raises(ObjectNotFound):
        b.get(oid)
    assert list(b.iter_ids()) == []
    assert b.read_meta("config") is None
    a.close()
    b.close()


def test_meta_names_are_checked(s3_url: str) -> None:
    backend = S3Backend(s3_url)
    for name in ("", "/config", "objects/ab/cd"):
        with pytest.raises(InvalidInput):
            backend.write_meta(name, b"x")
    backend.close()


def test_iter_ids_follows_pages() -> None:
    backend = S3Backend("s3://bucket/p", endpoint_url="http://127.0.0.1:9")
    with Stubber(backend.raw_client) as stub:
        stub.add_response(
            "list_objects_v2",
            {"IsTruncated": True, "NextContinuationToken": "t", "Contents": [{"Key": "p/objects/aa/aa1"}]},
            {"Bucket": "bucket", "Prefix": "p/objects/"},
        )
        stub.add_response(
            "list_objects_v2",
            {"IsTruncated": False, "Contents": [{"Key": "p/objects/bb/bb2"}]},
            {"Bucket": "bucket", "Prefix": "p/objects/", "ContinuationToken": "t"},
        )
        assert list(backend.iter_ids()) == ["aa1", "bb2"]
        stub.assert_no_pending_responses()


def test_concurrent_use_of_one_backend(s3_url: str) -> None:
    backend = S3Backend(s3_url, max_pool_connections=8)
    blobs = [f"blob {i}".encode() * 100 for i in range(64)]

    def roundtrip(data: bytes) -> bool:
        oid = XXH.digest(data)
        backend.put(oid, data)
        return backend.get(oid) == data and backend.exists(oid)

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(roundtrip, blobs))
    assert sorted(backend.iter_ids()) == sorted(XXH.digest(b) for b in blobs)
    backend.close()


# -- failures ------------------------------------------------------------------------------


def test_missing_bucket(s3_url: str, s3_endpoint: str) -> None:
    backend = S3Backend("s3://no-such-bucket-datavc/store")
    oid = XXH.digest(b"x")
    calls: list[Callable[[], object]] = [
        lambda: backend.put(oid, b"x"),
        lambda: backend.get(oid),
        lambda: backend.exists(oid),
        lambda: list(backend.iter_ids()),
        lambda: backend.read_meta("config"),
        lambda: backend.write_meta("config", b"{}"),
        lambda: backend.delete(oid),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailable) as info:
            call()
        assert str(info.value) == f"bucket no-such-bucket-datavc does not exist at {s3_endpoint}"
    backend.close()


def test_missing_credentials(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    backend = S3Backend(s3_url, max_attempts=1)
    with pytest.raises(BackendUnavailable, match=r"credentials.*AWS_ACCESS_KEY_ID") as info:
        backend.get(XXH.digest(b"x"))
    assert backend.bucket in str(info.value)
    backend.close()


def test_dead_server(s3_server_factory: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = s3_server_factory()
    make_bucket(server.endpoint, "doomed")
    backend = S3Backend(
        "s3://doomed/store",
        endpoint_url=server.endpoint,
        max_attempts=2,
        connect_timeout=1,
        read_timeout=1,
    )
    backend.write_meta("config", b"{}")  # the server works
    oid = XXH.digest(b"before")
    backend.put(oid, b"before")
    server.stop()

    for call in (
        lambda: backend.put(XXH.digest(b"after"), b"after"),
        lambda: backend.get(oid),
        lambda: backend.exists(oid),
        lambda: list(backend.iter_ids()),
    ):
        err = _returns_within(call)
        assert isinstance(err, BackendUnavailable), err
        message = str(err)
        assert server.endpoint in message and "doomed" in message
        assert "check that the server is running" in message
        assert "\n" not in message
    backend.close()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDenied", 403, "access denied to bucket bucket at http://127.0.0.1:9 .*check the credentials"),
        ("InvalidAccessKeyId", 403, "access denied .*AWS_ACCESS_KEY_ID"),
        ("NoSuchBucket", 404, "^bucket bucket does not exist at http://127.0.0.1:9$"),
        ("SlowDown", 503, "kept failing for bucket bucket at http://127.0.0.1:9 .*SlowDown"),
        ("InternalError", 500, "kept failing .*InternalError"),
        ("PermanentRedirect", 301, "another region .*AWS_DEFAULT_REGION"),
        ("InvalidObjectState", 403, "access denied"),
        ("InvalidArgument", 400, "S3 refused to read object .*InvalidArgument"),
    ],
)
def test_error_mapping(code: str, status: int, expected: str) -> None:
    backend = S3Backend("s3://bucket/p", endpoint_url="http://127.0.0.1:9")
    oid = XXH.digest(b"x")
    with Stubber(backend.raw_client) as stub:
        stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
        with pytest.raises(BackendUnavailable, match=expected):
            backend.get(oid)


def test_not_found(s3_url: str) -> None:
    backend = S3Backend(s3_url)
    oid = XXH.digest(b"absent")
    with pytest.raises(ObjectNotFound) as info:
        backend.get(oid)
    assert info.value.oid == oid and s3_url in str(info.value)
    assert not backend.exists(oid)
    backend.delete(oid)
    assert backend.read_meta("absent") is None
    backend.close()


class _BrokenBody:
    def __init__(self, data: bytes, fail: bool) -> None:
        self.data, self.fail = data, fail

    def read(self) -> bytes:
        if self.fail:
            raise IncompleteReadError(actual_bytes=1, expected_bytes=len(self.data))
        return self.data

    def close(self) -> None:
        pass


def test_broken_body_is_retried(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = S3Backend(s3_url, max_attempts=3)
    monkeypatch.setattr("storage.backends.s3.time.sleep", lambda _s: None)
    calls: list[int] = []

    def get_object(**_kw: Any) -> dict[str, Any]:
        calls.append(1)
        return {"Body": _BrokenBody(b"data", fail=len(calls) < 3)}

    monkeypatch.setattr(backend.raw_client, "get_object", get_object)
    assert backend.get("oid") == b"data"
    assert len(calls) == 3

    calls.clear()
    monkeypatch.setattr(
        backend.raw_client, "get_object", lambda **_kw: {"Body": _BrokenBody(b"data", fail=True)}
    )
    with pytest.raises(BackendUnavailable, match="IncompleteReadError, 3 attempts"):
        backend.get("oid")
