"""ListMultipartUploads honours ``prefix``, ``delimiter``, ``key-marker``, ``upload-id-marker``
and ``max-uploads`` as S3 does (``datavc/server/s3/multipart.py``), driven through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.datavc.server.s3.conftest import Gateway, start_gateway

KEYS = ["main/a/1.bin", "main/a/2.bin", "main/a/2.bin", "main/b/1.bin", "main/c.bin"]


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[tuple[str, str]]]]:
    gw: Gateway = start_gateway(tmp_path_factory.mktemp("s3mpu"))
    try:
        s3 = gw.boto3("alice")
        made = [(k, s3.create_multipart_upload(Bucket="data", Key=k)["UploadId"]) for k in KEYS]
        gw.boto3("admin").create_multipart_upload(Bucket="data", Key="main/a/admins.bin")  # not alice's
        yield s3, sorted(made)
    finally:
        gw.server.should_exit = True
        gw.thread.join(timeout=10)
        gw.direct.close()


def _listed(page: dict[str, Any]) -> list[tuple[str, str]]:
    return [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]


def test_prefix_and_key_marker_filter_as_s3_does(uploads: tuple[Any, list[tuple[str, str]]]) -> None:
    s3, made = uploads
    assert _listed(s3.list_multipart_uploads(Bucket="data")) == made
    page = s3.list_multipart_uploads(Bucket="data", Prefix="main/a/")
    assert _listed(page) == made[:3] and page["Prefix"] == "main/a/" and page["IsTruncated"] is False
    # key-marker: keys after it only; with upload-id-marker, also that key's later upload ids.
    assert _listed(s3.list_multipart_uploads(Bucket="data", KeyMarker="main/a/2.bin")) == made[3:]
    page = s3.list_multipart_uploads(Bucket="data", KeyMarker="main/a/2.bin", UploadIdMarker=made[1][1])
    assert _listed(page) == made[2:]
    assert (
        _listed(s3.list_multipart_uploads(Bucket="data", UploadIdMarker=made[1][1])) == made
    )  # alone: ignored
    assert _listed(s3.list_multipart_uploads(Bucket="data", Prefix="main/b/", KeyMarker="main/b/1.bin")) == []
    # delimiter: keys below the next "/" roll up into common prefixes.
    page = s3.list_multipart_uploads(Bucket="data", Prefix="main/", Delimiter="/")
    assert _listed(page) == [made[4]]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["main/a/", "main/b/"]


def test_max_uploads_pages_through_every_upload_once(uploads: tuple[Any, list[tuple[str, str]]]) -> None:
    s3, made = uploads
    first = s3.list_multipart_uploads(Bucket="data", MaxUploads=2)
    assert first["IsTruncated"] is True and _listed(first) == made[:2]
    assert (first["NextKeyMarker"], first["NextUploadIdMarker"]) == made[1]
    pages = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket="data", PaginationConfig={"PageSize": 2}
    )
    assert [u for p in pages for u in _listed(p)] == made
    pages = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket="data", Prefix="main/", Delimiter="/", PaginationConfig={"PageSize": 1}
    )
    by_page = [(_listed(p), [c["Prefix"] for c in p.get("CommonPrefixes", [])]) for p in pages]
    assert by_page == [([], ["main/a/"]), ([], ["main/b/"]), ([made[4]], [])]
