"""Object operations: GetObject, HeadObject, PutObject, DeleteObject, DeleteObjects, CopyObject.

Write semantics: every write is one commit on its branch (as Pachyderm's gateway does),
not a staging area committed later (as lakeFS does). S3 clients expect a PUT to be
readable by the next GET and have no verb to "commit"; one commit per write keeps that
promise with nothing left half-done, and each commit names the user and the key. A
DeleteObjects request or a multipart upload is one commit for the whole request.
Commits on a branch are compare-and-swap with re-apply, so concurrent writers lose nothing.

ETags: ``"<content hash>-1"``. The content hash is stable per content (the same bytes
under any key, ref or commit give the same ETag), and the ``-N`` form tells clients
(rclone, s3cmd, the AWS SDKs) that it is not an MD5, so they do not mistake our
XXH3/SHA-256 for one and fail an integrity check.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import tempfile
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from itertools import chain
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from datavc.errors import NotFound
from datavc.info import FileInfo
from datavc.server.routes_files import _Unsatisfiable, parse_range
from datavc.server.s3.context import S3Request
from datavc.server.s3.xmlio import S3Error, document, el, http_date, iso, parse_request

SPOOL_MEMORY = 8 * 1024 * 1024
MAX_DELETE_KEYS = 1000


def etag(content_hash: str) -> str:
    return f'"{content_hash}-1"'


def _file(r: S3Request, ref: str, path: str) -> tuple[FileInfo, datetime]:
    """The file at ``ref:path`` and its commit's time; NoSuchKey for anything else."""
    try:
        info = r.client.inspect_file(r.bucket, ref, path)
        if info.kind != "file":
            raise NotFound(path)
        commit = r.client.inspect_commit(r.bucket, info.commit)
    except NotFound:
        raise S3Error("NoSuchKey", "the specified key does not exist", resource=r.key) from None
    return info, commit.finished_at or commit.created_at


def _headers(info: FileInfo, modified: datetime, path: str) -> dict[str, str]:
    ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return {
        "ETag": etag(info.hash),
        "Last-Modified": http_date(modified),
        "Accept-Ranges": "bytes",
        "Content-Type": ctype,
        "x-amz-meta-datavc-commit": info.commit,
    }


def _http_time(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _preconditions(r: S3Request, tag: str, modified: datetime) -> int | None:
    """304 or 412 when a conditional header says so (RFC 9110 order), else None."""
    h = r.headers
    secs = modified.replace(microsecond=0)
    if "if-match" in h:
        if h["if-match"].strip() not in ("*", tag) and tag not in [
            t.strip() for t in h["if-match"].split(",")
        ]:
            return 412
    elif "if-unmodified-since" in h:
        t = _http_time(h["if-unmodified-since"])
        if t is not None and secs > t:
            return 412
    if "if-none-match" in h:
        tags = [t.strip() for t in h["if-none-match"].split(",")]
        if "*" in tags or tag in tags:
            return 304
    elif "if-modified-since" in h:
        t = _http_time(h["if-modified-since"])
        if t is not None and secs <= t:
            return 304
    return None


def get_object(r: S3Request, *, head: bool) -> Response:
    r.require("reader")
    ref, path = r.split_key()
    info, modified = _file(r, ref, path)
    headers = _headers(info, modified, path)
    cond = _preconditions(r, headers["ETag"], modified)
    if cond == 412:
        raise S3Error("PreconditionFailed", "at least one of the preconditions did not hold", resource=r.key)
    if cond == 304:
        return Response(status_code=304, headers={k: headers[k] for k in ("ETag", "Last-Modified")})
    try:
        rng = parse_range(r.headers.get("range"), info.size)
    except _Unsatisfiable:
        raise S3Error(
            "InvalidRange",
            "the requested range is not satisfiable",
            resource=r.key,
            headers={"Content-Range": f"bytes */{info.size}"},
        ) from None
    start, length = rng if rng is not None else (0, info.size)
    headers["Content-Length"] = str(length)
    if rng is not None:
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{info.size}"
    status = 206 if rng is not None else 200
    if head:
        return Response(status_code=status, headers=headers)
    pieces = r.client.iter_file(r.bucket, info.commit, info.path, start, length)
    # Read the first piece now: a missing or corrupt object is an error status, not a cut stream.
    first = next(pieces, b"")
    body: Iterator[bytes] = chain([first], pieces)
    return StreamingResponse(body, status_code=status, headers=headers)


async def spool_body(r: S3Request) -> tuple[Any, str, int]:
    """The request payload in a spooled temporary file (rewound), its MD5 hex and size.

    Raises:
        S3Error: BadDigest when a Content-MD5 header does not match.
    """
    assert r.body is not None
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 -- the caller closes it
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        async for piece in r.body:
            md5.update(piece)
            size += len(piece)
            await run_in_threadpool(spool.write, piece)
        want = r.headers.get("content-md5")
        if want:
            try:
                ok = base64.b64decode(want, validate=True) == md5.digest()
            except ValueError:
                ok = False
            if not ok:
                raise S3Error("BadDigest", "the Content-MD5 you specified did not match what we received")
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, md5.hexdigest(), size


async def put_object(r: S3Request) -> Response:
    r.require("writer")
    ref, path = r.split_key()
    branch = await run_in_threadpool(r.writable_branch, ref)
    spool, md5_hex, size = await spool_body(r)
    try:
        if path.endswith("/"):
            # A "directory marker": directories exist through their files here; nothing to store.
            if size:
                raise S3Error("InvalidArgument", "a key ending in '/' cannot hold data", resource=r.key)
            return Response(status_code=200, headers={"ETag": f'"{md5_hex}"'})
        commit = await run_in_threadpool(
            lambda: r.client.put_file(r.bucket, branch, path, spool, message=f"s3 put /{path.strip('/')}")
        )
    finally:
        spool.close()
    r.note(branch, commit.id, "s3:PutObject")
    info = await run_in_threadpool(r.client.inspect_file, r.bucket, commit.id, path)
    return Response(status_code=200, headers={"ETag": etag(info.hash), "x-amz-meta-datavc-commit": commit.id})


def _existing_files(r: S3Request, ref: str, paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        try:
            if r.client.inspect_file(r.bucket, ref, p).kind == "file":
                out.append(p)
        except NotFound:
            pass
    return out


def delete_object(r: S3Request) -> Response:
    r.require("writer")
    ref, path = r.split_key()
    branch = r.writable_branch(ref)
    r.note(branch, None, "s3:DeleteObject")
    if _existing_files(r, branch, [path]):  # deleting what is not there succeeds, as in S3
        commit = r.client.delete_file(r.bucket, branch, path, message=f"s3 delete /{path.strip('/')}")
        r.note(branch, commit.id)
    return Response(status_code=204)


def delete_objects(r: S3Request, data: bytes) -> Response:
    """One commit per branch named by the request's keys; per-key errors in the answer."""
    r.require("writer")
    root = parse_request(data)
    quiet = (root.findtext("Quiet") or "").strip().lower() == "true"
    keys = [o.findtext("Key") or "" for o in root.findall("Object")]
    if not keys or len(keys) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML", f"a Delete request names 1 to {MAX_DELETE_KEYS} keys")
    by_branch: dict[str, list[tuple[str, str]]] = {}
    errors: list[str] = []
    deleted: list[str] = []
    for key in keys:
        ref, _, path = key.partition("/")
        try:
            if not ref or not path.strip("/"):
                raise S3Error("NoSuchKey", "keys are <branch|tag|commit>/<path>")
            by_branch.setdefault(r.writable_branch(ref), []).append((key, path))
        except S3Error as err:
            errors.append(
                f"<Error>{el('Key', key)}{el('Code', err.code)}{el('Message', err.message)}</Error>"
            )
    r.note(None, None, "s3:DeleteObjects")
    for branch, items in by_branch.items():
        present = _existing_files(r, branch, sorted({p for _, p in items}))
        if present:
            commit = r.client.delete_file(r.bucket, branch, present, message=f"s3 delete {len(present)} keys")
            r.note(branch, commit.id)
        deleted.extend(k for k, _ in items)
    inner = "" if quiet else "".join(f"<Deleted>{el('Key', k)}</Deleted>" for k in deleted)
    return Response(document("DeleteResult", inner + "".join(errors)), media_type="application/xml")


def copy_object(r: S3Request) -> Response:
    """CopyObject within or across repos: no byte is read or written, only the tree changes."""
    r.require("writer")
    ref, path = r.split_key()
    branch = r.writable_branch(ref)
    source = unquote(r.headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/")
    src_bucket, _, src_key = source.partition("/")
    src_ref, _, src_path = src_key.partition("/")
    if not src_bucket or not src_ref or not src_path.strip("/"):
        raise S3Error("InvalidArgument", "x-amz-copy-source must be <bucket>/<ref>/<path>")
    r.require("reader", src_bucket)
    try:
        src = r.client.inspect_file(src_bucket, src_ref, src_path)
        if src.kind != "file":
            raise NotFound(src_path)
    except NotFound:
        raise S3Error("NoSuchKey", "the copy source does not exist", resource=source) from None
    commit = r.client.copy_file(
        src_bucket, src.commit, src_path, r.bucket, branch, path, message=f"s3 copy {source} to /{path}"
    )
    r.note(branch, commit.id, "s3:CopyObject")
    when = commit.finished_at or commit.created_at
    inner = el("LastModified", iso(when)) + el("ETag", etag(src.hash))
    return Response(document("CopyObjectResult", inner), media_type="application/xml")
