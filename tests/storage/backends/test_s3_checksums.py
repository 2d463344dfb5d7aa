"""S3 GETs of objects skip botocore's CRC32 (the content id checks them); metadata keeps it.

Objects are read directly (storage.backends.s3_direct, no checksum asked for) unless that
path is off or failed: then through boto3, checked here with the direct path off.
"""

from __future__ import annotations

from typing import Any

import pytest
import xxhash

from storage.backends.s3 import S3Backend


def test_object_gets_skip_the_s3_checksum_and_metadata_reads_keep_it(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAVC_S3_DIRECT", "0")  # the boto3 path every failed direct GET falls back to
    backend = S3Backend(s3_url)
    try:
        data = b"object bytes " * 1000
        oid = xxhash.xxh3_128_hexdigest(data)
        backend.put(oid, data)
        backend.write_meta("config.json", b"{}")
        seen: list[tuple[str | None, str]] = []

        def params(params: dict[str, Any], **_kw: Any) -> None:
            seen.append((params.get("ChecksumMode"), params["Key"]))

        bodies: list[str] = []

        def body(parsed: dict[str, Any], **_kw: Any) -> None:
            bodies.append(type(parsed["Body"]).__name__)

        events = backend.raw_client.meta.events
        events.register("before-parameter-build.s3.GetObject", params)
        events.register("after-call.s3.GetObject", body)
        assert backend.get(oid) == data
        assert backend.read_meta("config.json") == b"{}"
        assert seen == [(None, backend.object_key(oid)), ("ENABLED", seen[1][1])]
        assert seen[1][1].endswith("config.json")
        # Without the setting, botocore wraps every body to CRC it: a second pass over each byte.
        assert bodies[0] == "StreamingBody"
        assert bodies[1] == "StreamingChecksumBody"
    finally:
        backend.close()
