"""Bucket operations: ListBuckets, HeadBucket, CreateBucket, GetBucketLocation, ListObjects V1/V2."""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from urllib.parse import quote

from starlette.responses import Response

from datavc import accounts
from datavc.errors import AlreadyExists
from datavc.server.s3.context import S3Request
from datavc.server.s3.listing import MAX_KEYS, Token, list_keys
from datavc.server.s3.objects import etag
from datavc.server.s3.xmlio import S3Error, document, el, iso


def _xml(root: str, inner: str) -> Response:
    return Response(document(root, inner), media_type="application/xml")


def list_buckets(r: S3Request) -> Response:
    """The repos the caller has a role on (every repo for an admin)."""
    repos = r.client.list_repos()
    if not r.ident.is_admin:
        mine = accounts.readable_repos(r.client.context, r.ident.user_id)
        repos = [x for x in repos if x.name in mine]
    owner = "<Owner>" + el("ID", r.ident.name) + el("DisplayName", r.ident.name) + "</Owner>"
    items = "".join(
        "<Bucket>" + el("Name", x.name) + el("CreationDate", iso(x.created_at)) + "</Bucket>" for x in repos
    )
    return _xml("ListAllMyBucketsResult", owner + "<Buckets>" + items + "</Buckets>")


def head_bucket(r: S3Request) -> Response:
    r.require("reader")
    r.client.inspect_repo(r.bucket)
    return Response(status_code=200)


def create_bucket(r: S3Request) -> Response:
    """Creates the repo (its creator becomes owner, as in the API); an existing repo the caller
    may read answers 200, as S3 does for a bucket its owner re-creates in us-east-1."""
    try:
        r.client.create_repo(r.bucket)
    except AlreadyExists:
        r.require("reader")
        return Response(status_code=200, headers={"Location": "/" + r.bucket})
    if not r.ident.is_admin:
        accounts.grant_role(r.client.context, r.bucket, r.ident.name, "owner")
    r.note(None, None, "s3:CreateBucket")
    return Response(status_code=200, headers={"Location": "/" + r.bucket})


def location(r: S3Request) -> Response:
    r.require("reader")
    r.client.inspect_repo(r.bucket)
    return _xml("LocationConstraint", "")


def versioning(r: S3Request) -> Response:
    r.require("reader")
    return _xml("VersioningConfiguration", "")


def _max_keys(text: str | None) -> int:
    if text is None:
        return MAX_KEYS
    try:
        n = int(text)
    except ValueError:
        raise S3Error("InvalidArgument", "max-keys must be an integer") from None
    if n < 0:
        raise S3Error("InvalidArgument", "max-keys must not be negative")
    return min(n, MAX_KEYS)


def list_objects(r: S3Request, *, v2: bool) -> Response:
    """ListObjects (V1: marker) and ListObjectsV2 (continuation token pinned to a commit, start-after)."""
    r.require("reader")
    r.client.inspect_repo(r.bucket)
    q = r.query
    prefix = q.get("prefix", "")
    delimiter = q.get("delimiter", "")
    if delimiter not in ("", "/"):
        raise S3Error("InvalidArgument", "the only delimiter supported is '/'")
    url = q.get("encoding-type") == "url"
    max_keys = _max_keys(q.get("max-keys"))
    pinned: Token | None = None
    if v2:
        after = q.get("start-after", "")
        if "continuation-token" in q:
            pinned = Token.decode(q["continuation-token"])
            after = max(after, pinned.key)
    else:
        after = q.get("marker", "")
    found = list_keys(r.client, r.bucket, prefix, after, delimited=bool(delimiter), pinned=pinned)
    page = list(islice(found, max_keys + 1)) if max_keys else []
    truncated = len(page) > max_keys
    page = page[:max_keys]

    def enc(key: str) -> str:
        return quote(key, safe="/") if url else key

    times: dict[str, datetime] = {}

    def modified(commit: str) -> datetime:
        if commit not in times:  # a page's keys mostly share one commit
            c = r.client.inspect_commit(r.bucket, commit)
            times[commit] = c.finished_at or c.created_at
        return times[commit]

    contents, prefixes = [], []
    for _ref, item in page:
        if item.entry is None:
            prefixes.append("<CommonPrefixes>" + el("Prefix", enc(item.key)) + "</CommonPrefixes>")
        else:
            contents.append(
                "<Contents>"
                + el("Key", enc(item.key))
                + el("LastModified", iso(modified(item.commit)))
                + el("ETag", etag(item.entry.hash))
                + el("Size", item.entry.size)
                + el("StorageClass", "STANDARD")
                + "</Contents>"
            )
    head = el("Name", r.bucket) + el("Prefix", enc(prefix)) + el("MaxKeys", max_keys)
    if delimiter:
        head += el("Delimiter", enc(delimiter))
    if url:
        head += el("EncodingType", "url")
    head += el("IsTruncated", "true" if truncated else "false")
    if v2:
        head += el("KeyCount", len(page))
        if "continuation-token" in q:
            head += el("ContinuationToken", q["continuation-token"])
        if "start-after" in q:
            head += el("StartAfter", enc(q["start-after"]))
        if truncated:
            ref, last = page[-1]
            head += el("NextContinuationToken", Token(last.key, ref, last.commit).encode())
    else:
        head += el("Marker", enc(q.get("marker", "")))
        if truncated:
            head += el("NextMarker", enc(page[-1][1].key))
    return _xml("ListBucketResult", head + "".join(contents) + "".join(prefixes))
