"""The S3 gateway driven by boto3: reads, writes, listings, multipart, errors and roles."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import botocore.exceptions
import httpx
import pytest
from boto3.s3.transfer import TransferConfig

from datavc import audit, s3keys
from datavc.errors import PathNotFound
from tests.datavc.server.s3.conftest import FILES, Gateway


def _code(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


# ----- reads ---------------------------------------------------------------------------


def test_get_head_and_stable_etags(gateway: Gateway) -> None:
    s3 = gateway.boto3("bob")
    for path, data in FILES.items():
        assert s3.get_object(Bucket="data", Key=f"main/{path}")["Body"].read() == data
    head = s3.head_object(Bucket="data", Key="main/a.txt")
    assert head["ContentLength"] == len(FILES["a.txt"])
    assert head["ETag"].endswith('-1"')
    # The same content has the same ETag under every ref that holds it.
    assert s3.head_object(Bucket="data", Key="v1/a.txt")["ETag"] == head["ETag"]
    assert s3.head_object(Bucket="data", Key=f"{gateway.first_commit}/a.txt")["ETag"] == head["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.get_object(Bucket="data", Key="main/nope.txt")
    assert _code(exc) == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.get_object(Bucket="data", Key="main/dir")  # a directory is not an object
    assert _code(exc) == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        gateway.boto3("admin").get_object(Bucket="nope", Key="main/a.txt")
    assert _code(exc) in ("NoSuchBucket", "NoSuchKey")


def test_ranges_and_conditional_gets(gateway: Gateway) -> None:
    s3 = gateway.boto3("bob")
    data = FILES["dir/sub/c.bin"]
    r = s3.get_object(Bucket="data", Key="main/dir/sub/c.bin", Range="bytes=100-199")
    assert r["Body"].read() == data[100:200]
    assert r["ContentRange"] == f"bytes 100-199/{len(data)}"
    assert (
        s3.get_object(Bucket="data", Key="main/dir/sub/c.bin", Range="bytes=-10")["Body"].read() == data[-10:]
    )
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.get_object(Bucket="data", Key="main/dir/sub/c.bin", Range=f"bytes={len(data)}-")
    assert _code(exc) == "InvalidRange"
    tag = s3.head_object(Bucket="data", Key="main/a.txt")["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.get_object(Bucket="data", Key="main/a.txt", IfNoneMatch=tag)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    modified = s3.head_object(Bucket="data", Key="main/a.txt")["LastModified"]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.get_object(Bucket="data", Key="main/a.txt", IfModifiedSince=modified + timedelta(seconds=1))
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    got = s3.get_object(Bucket="data", Key="main/a.txt", IfModifiedSince=modified - timedelta(days=1))
    assert got["Body"].read() == FILES["a.txt"]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.get_object(Bucket="data", Key="main/a.txt", IfMatch='"other-1"')
    assert _code(exc) == "PreconditionFailed"


def test_list_buckets_shows_only_repos_with_a_role(gateway: Gateway) -> None:
    gateway.direct.create_repo("hidden")
    assert [b["Name"] for b in gateway.boto3("bob").list_buckets()["Buckets"]] == ["data"]
    assert gateway.boto3("carol").list_buckets()["Buckets"] == []
    assert {b["Name"] for b in gateway.boto3("admin").list_buckets()["Buckets"]} >= {"data", "hidden"}


def test_listing_order_delimiter_prefix_and_start_after(gateway: Gateway) -> None:
    s3 = gateway.boto3("bob")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="data", Prefix="v1/")["Contents"]]
    # S3 byte order: "dir-x.txt" < "dir/..." because '-' sorts before '/'.
    assert keys == ["v1/a.txt", "v1/dir-x.txt", "v1/dir/b.csv", "v1/dir/sub/c.bin"]
    r = s3.list_objects_v2(Bucket="data", Prefix="v1/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["v1/a.txt", "v1/dir-x.txt"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["v1/dir/"]
    r = s3.list_objects_v2(Bucket="data", Prefix="v1/dir", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["v1/dir-x.txt"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["v1/dir/"]
    r = s3.list_objects_v2(Bucket="data", Prefix="v1/", StartAfter="v1/dir-x.txt")
    assert [o["Key"] for o in r["Contents"]] == ["v1/dir/b.csv", "v1/dir/sub/c.bin"]
    r = s3.list_objects(Bucket="data", Prefix="v1/", Marker="v1/dir/b.csv")  # ListObjects V1
    assert [o["Key"] for o in r["Contents"]] == ["v1/dir/sub/c.bin"]
    r = s3.list_objects_v2(Bucket="data", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["main/"]


def test_pagination_stays_on_one_commit_while_the_branch_moves(gateway: Gateway) -> None:
    c = gateway.direct
    c.create_branch("data", "paged", "main")
    with c.commit("data", "paged", "many") as tx:
        for i in range(25):
            tx.put_file(f"many/f{i:03d}", b"x")
    s3 = gateway.boto3("bob")
    first = s3.list_objects_v2(Bucket="data", Prefix="paged/many/", MaxKeys=10)
    assert first["IsTruncated"] and first["KeyCount"] == 10
    # The branch moves between pages: a file is added at the start and one deleted at the end.
    c.put_file("data", "paged", "many/f000a", b"new")
    c.delete_file("data", "paged", "many/f024")
    keys = [o["Key"] for o in first["Contents"]]
    token = first["NextContinuationToken"]
    while token:
        page = s3.list_objects_v2(Bucket="data", Prefix="paged/many/", MaxKeys=10, ContinuationToken=token)
        keys += [o["Key"] for o in page["Contents"]]
        token = page.get("NextContinuationToken")
    assert keys == [f"paged/many/f{i:03d}" for i in range(25)]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.list_objects_v2(Bucket="data", Prefix="paged/", ContinuationToken="not-a-token")
    assert _code(exc) == "InvalidArgument"


# ----- writes --------------------------------------------------------------------------


def test_put_copy_delete_each_make_one_commit(gateway: Gateway) -> None:
    c = gateway.direct
    c.create_branch("data", "w1", "main")
    s3 = gateway.boto3("alice")
    before = c.inspect_commit("data", "w1").id
    put = s3.put_object(Bucket="data", Key="w1/new/n.txt", Body=b"new file")
    head = c.inspect_commit("data", "w1")
    assert head.parent == before and head.author == "alice"
    assert c.get_file("data", "w1", "new/n.txt") == b"new file"
    assert put["ETag"] == s3.head_object(Bucket="data", Key="w1/new/n.txt")["ETag"]
    s3.copy_object(Bucket="data", Key="w1/copy.txt", CopySource={"Bucket": "data", "Key": "v1/a.txt"})
    assert c.get_file("data", "w1", "copy.txt") == FILES["a.txt"]
    assert c.inspect_commit("data", "w1").parent == head.id
    s3.delete_object(Bucket="data", Key="w1/copy.txt")
    s3.delete_object(Bucket="data", Key="w1/never-there.txt")  # S3: deleting nothing succeeds
    r = s3.delete_objects(
        Bucket="data", Delete={"Objects": [{"Key": "w1/a.txt"}, {"Key": "w1/dir/b.csv"}, {"Key": "v1/a.txt"}]}
    )
    assert sorted(d["Key"] for d in r["Deleted"]) == ["w1/a.txt", "w1/dir/b.csv"]
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("v1/a.txt", "AccessDenied")]
    paths = [f.path.lstrip("/") for f in c.walk_files("data", "w1")]
    assert "a.txt" not in paths and "dir/b.csv" not in paths and "dir/sub/c.bin" in paths
    assert c.get_file("data", "main", "a.txt") == FILES["a.txt"]  # other branches untouched


def test_writes_to_a_tag_or_commit_are_refused(gateway: Gateway) -> None:
    s3 = gateway.boto3("alice")
    for ref in ("v1", gateway.first_commit):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            s3.put_object(Bucket="data", Key=f"{ref}/x.txt", Body=b"x")
        assert _code(exc) == "AccessDenied"
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            s3.delete_object(Bucket="data", Key=f"{ref}/a.txt")
        assert _code(exc) == "AccessDenied"
    assert gateway.direct.inspect_commit("data", "v1").id == gateway.first_commit


def test_roles_apply_as_in_the_api(gateway: Gateway) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        gateway.boto3("bob").put_object(Bucket="data", Key="main/bob.txt", Body=b"x")
    assert _code(exc) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        gateway.boto3("carol").get_object(Bucket="data", Key="main/a.txt")
    assert _code(exc) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        gateway.boto3("carol").list_objects_v2(Bucket="data")
    assert _code(exc) == "AccessDenied"
    entries = audit.list_entries(gateway.direct.context, repo="data")
    assert any(e.user == "bob" and e.status == 403 for e in entries)


def test_multipart_upload_is_one_file_in_one_commit(gateway: Gateway) -> None:
    c = gateway.direct
    c.create_branch("data", "mp", "main")
    s3 = gateway.boto3("alice")
    data = os.urandom(11 * 1024 * 1024 + 123)
    before = c.inspect_commit("data", "mp").id
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(data), "data", "mp/big/blob.bin", Config=cfg)
    head = c.inspect_commit("data", "mp")
    assert head.parent == before
    assert c.get_file("data", "mp", "big/blob.bin") == data
    out = io.BytesIO()
    s3.download_fileobj("data", "mp/big/blob.bin", out, Config=cfg)  # ranged GETs
    assert out.getvalue() == data
    # list parts, then abort: nothing is committed and the staged parts are gone.
    up = s3.create_multipart_upload(Bucket="data", Key="mp/aborted.bin")
    s3.upload_part(Bucket="data", Key="mp/aborted.bin", UploadId=up["UploadId"], PartNumber=1, Body=b"p1")
    parts = s3.list_parts(Bucket="data", Key="mp/aborted.bin", UploadId=up["UploadId"])["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 2)]
    with pytest.raises(botocore.exceptions.ClientError) as exc:  # another user cannot see it
        gateway.boto3("admin").list_parts(Bucket="data", Key="mp/aborted.bin", UploadId=up["UploadId"])
    assert _code(exc) == "NoSuchUpload"
    s3.abort_multipart_upload(Bucket="data", Key="mp/aborted.bin", UploadId=up["UploadId"])
    assert not (gateway.tmp / "uploads" / up["UploadId"]).exists()
    assert c.inspect_commit("data", "mp").id == head.id
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.create_multipart_upload(Bucket="data", Key="v1/x.bin")
    assert _code(exc) == "AccessDenied"


# ----- authentication ------------------------------------------------------------------


def test_wrong_unknown_revoked_and_anonymous_requests_are_refused(gateway: Gateway) -> None:
    import boto3
    from botocore.config import Config

    ak, _ = gateway.keys["alice"]
    bad = boto3.client(
        "s3",
        endpoint_url=gateway.url,
        aws_access_key_id=ak,
        aws_secret_access_key="wrong" * 8,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        bad.put_object(Bucket="data", Key="main/evil.txt", Body=b"x")
    assert _code(exc) == "SignatureDoesNotMatch"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        bad.list_objects_v2(Bucket="data")
    assert _code(exc) == "SignatureDoesNotMatch"
    unknown = boto3.client(
        "s3",
        endpoint_url=gateway.url,
        aws_access_key_id="DVCNOSUCHKEY0000000",
        aws_secret_access_key="x" * 40,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        unknown.list_buckets()
    assert _code(exc) == "InvalidAccessKeyId"
    r = httpx.get(f"{gateway.url}/data/main/a.txt")
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    k = s3keys.create_key(gateway.direct.context, "bob", name="temp")
    assert k.secret is not None
    gateway.keys["temp"] = (k.access_key_id, k.secret)
    assert gateway.boto3("temp").list_buckets()["Buckets"]
    s3keys.revoke_key(gateway.direct.context, k.access_key_id)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        gateway.boto3("temp").list_buckets()
    assert _code(exc) == "InvalidAccessKeyId"
    with pytest.raises(PathNotFound):
        gateway.direct.get_file("data", "main", "evil.txt")


def test_presigned_urls(gateway: Gateway) -> None:
    s3 = gateway.boto3("bob")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "data", "Key": "main/a.txt"}, ExpiresIn=60
    )
    assert httpx.get(url).content == FILES["a.txt"]
    v2 = gateway.boto3("bob", signature_version="s3").generate_presigned_url(
        "get_object", Params={"Bucket": "data", "Key": "main/a.txt"}, ExpiresIn=60
    )
    r = httpx.get(v2)
    assert r.status_code == 400 and b"signature version 2 is not supported" in r.content
    tampered = url.replace("a.txt", "dir-x.txt")
    r = httpx.get(tampered)
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content
    put = gateway.boto3("alice").generate_presigned_url(
        "put_object", Params={"Bucket": "data", "Key": "main/presigned.txt"}, ExpiresIn=60
    )
    assert httpx.put(put, content=b"via presigned url").status_code == 200
    assert gateway.direct.get_file("data", "main", "presigned.txt") == b"via presigned url"


def test_keys_that_escape_their_ref_are_refused(gateway: Gateway) -> None:
    s3 = gateway.boto3("alice")
    before = gateway.direct.inspect_commit("data", "main").id
    for key in ("main/../../etc/x", "main/a/../../b", "../main/x"):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            s3.put_object(Bucket="data", Key=key, Body=b"x")
        assert _code(exc) == "InvalidArgument"
    assert gateway.direct.inspect_commit("data", "main").id == before


def test_writes_are_audited_as_s3_operations(gateway: Gateway) -> None:
    gateway.direct.create_branch("data", "aud", "main")
    gateway.boto3("alice").put_object(Bucket="data", Key="aud/x.txt", Body=b"x")
    entries = [e for e in audit.list_entries(gateway.direct.context, repo="data") if e.branch == "aud"]
    assert [(e.user, e.action, e.method, e.path, e.status) for e in entries] == [
        ("alice", "s3:PutObject", "PUT", "/data/aud/x.txt", 200)
    ]
    assert entries[0].commit == gateway.direct.inspect_commit("data", "aud").id
