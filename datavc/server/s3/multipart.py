"""Multipart uploads: parts are staged as files on the server's disk, never whole in memory.

``<upload dir>/<upload id>/`` holds ``upload.json`` (repo, branch, path, user) and one
file per part, written to a temporary name and renamed when complete. Completing the
upload streams the parts, in order, into one ``put_file``: one file in one commit. The
directory is removed on completion or abort. An upload belongs to the user who started
it; another user's request is answered NoSuchUpload.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from datavc.multipart_uploads import UPLOAD_ID
from datavc.server.s3.context import S3Request
from datavc.server.s3.objects import etag
from datavc.server.s3.xmlio import S3Error, document, el, iso, parse_request

MAX_PARTS = 10000
_META = "upload.json"


def _dir(r: S3Request, upload_id: str) -> Path:
    """The upload's directory, after checking its id's form and its owner and key."""
    if not UPLOAD_ID.match(upload_id):
        raise S3Error("NoSuchUpload", "the specified upload does not exist")
    d = Path(r.upload_dir) / upload_id
    try:
        meta = json.loads((d / _META).read_text())
    except (OSError, ValueError):
        raise S3Error("NoSuchUpload", "the specified upload does not exist") from None
    if meta.get("user") != r.ident.name or meta.get("repo") != r.bucket or meta.get("key") != r.key:
        raise S3Error("NoSuchUpload", "the specified upload does not exist")
    return d


def _part_no(text: str | None) -> int:
    try:
        n = int(text or "")
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_PARTS:
        raise S3Error("InvalidArgument", f"part numbers are 1 to {MAX_PARTS}")
    return n


def create(r: S3Request) -> Response:
    r.require("writer")
    ref, path = r.split_key()
    branch = r.writable_branch(ref)
    upload_id = secrets.token_hex(16)
    d = Path(r.upload_dir) / upload_id
    d.mkdir(parents=True, mode=0o700)
    meta = {
        "repo": r.bucket,
        "key": r.key,
        "branch": branch,
        "path": path,
        "user": r.ident.name,
        "initiated": datetime.now(UTC).isoformat(),
    }
    (d / _META).write_text(json.dumps(meta))
    r.note(branch, None, "s3:CreateMultipartUpload")
    inner = el("Bucket", r.bucket) + el("Key", r.key) + el("UploadId", upload_id)
    return Response(document("InitiateMultipartUploadResult", inner), media_type="application/xml")


async def upload_part(r: S3Request) -> Response:
    r.require("writer")
    n = _part_no(r.query.get("partNumber"))
    d = await run_in_threadpool(_dir, r, r.query.get("uploadId", ""))
    assert r.body is not None
    tmp = d / f"part-{n:05d}.{secrets.token_hex(4)}.tmp"
    md5 = hashlib.md5(usedforsecurity=False)
    f = await run_in_threadpool(open, tmp, "wb")
    try:
        async for piece in r.body:
            md5.update(piece)
            await run_in_threadpool(f.write, piece)
        await run_in_threadpool(f.close)
        os.replace(tmp, d / f"part-{n:05d}")
    except BaseException:
        f.close()
        tmp.unlink(missing_ok=True)
        raise
    (d / f"part-{n:05d}.md5").write_text(md5.hexdigest())
    r.note(None, None, "s3:UploadPart")
    return Response(status_code=200, headers={"ETag": f'"{md5.hexdigest()}"'})


def _parts(d: Path) -> Iterator[tuple[int, Path, str]]:
    for p in sorted(d.glob("part-[0-9][0-9][0-9][0-9][0-9]")):
        md5_file = p.with_name(p.name + ".md5")
        if md5_file.exists():
            yield int(p.name[5:]), p, md5_file.read_text().strip()


def list_parts(r: S3Request) -> Response:
    r.require("writer")
    upload_id = r.query.get("uploadId", "")
    d = _dir(r, upload_id)
    items = []
    for n, p, md5 in _parts(d):
        st = p.stat()
        when = datetime.fromtimestamp(st.st_mtime, UTC)
        items.append(
            "<Part>"
            + el("PartNumber", n)
            + el("LastModified", iso(when))
            + el("ETag", f'"{md5}"')
            + el("Size", st.st_size)
            + "</Part>"
        )
    head = el("Bucket", r.bucket) + el("Key", r.key) + el("UploadId", upload_id)
    head += el("MaxParts", MAX_PARTS) + el("IsTruncated", "false")
    return Response(document("ListPartsResult", head + "".join(items)), media_type="application/xml")


class _Concat(io.RawIOBase):
    """A read-only stream over part files in order: what ``put_file`` reads the upload from."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._paths = iter(paths)
        self._f: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while True:
            if self._f is None:
                p = next(self._paths, None)
                if p is None:
                    return 0
                self._f = open(p, "rb")  # noqa: SIM115 -- closed when drained or by close()
            n = self._f.readinto(buf)  # type: ignore[attr-defined]
            if n:
                return int(n)
            self._f.close()
            self._f = None

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        super().close()


def complete(r: S3Request, data: bytes) -> Response:
    r.require("writer")
    upload_id = r.query.get("uploadId", "")
    d = _dir(r, upload_id)
    meta = json.loads((d / _META).read_text())
    root = parse_request(data)
    asked = [
        (_part_no(p.findtext("PartNumber")), (p.findtext("ETag") or "").strip()) for p in root.findall("Part")
    ]
    if not asked:
        raise S3Error("MalformedXML", "CompleteMultipartUpload names no parts")
    if [n for n, _ in asked] != sorted({n for n, _ in asked}):
        raise S3Error("InvalidPartOrder", "the parts must be listed in ascending order, each once")
    have = {n: (p, md5) for n, p, md5 in _parts(d)}
    paths = []
    for n, tag in asked:
        if n not in have or tag.strip('"') != have[n][1]:
            raise S3Error("InvalidPart", f"part {n} was not uploaded or its ETag does not match")
        paths.append(have[n][0])
    branch = r.writable_branch(meta["branch"])
    stream = io.BufferedReader(_Concat(paths), buffer_size=4 * 1024 * 1024)
    try:
        commit = r.client.put_file(
            r.bucket, branch, meta["path"], stream, message=f"s3 multipart put /{meta['path'].strip('/')}"
        )
    finally:
        stream.close()
    r.note(branch, commit.id, "s3:CompleteMultipartUpload")
    shutil.rmtree(d, ignore_errors=True)
    info = r.client.inspect_file(r.bucket, commit.id, meta["path"])
    inner = el("Bucket", r.bucket) + el("Key", r.key) + el("ETag", etag(info.hash))
    return Response(
        document("CompleteMultipartUploadResult", inner),
        media_type="application/xml",
        headers={"x-amz-meta-datavc-commit": commit.id},
    )


def abort(r: S3Request) -> Response:
    r.require("writer")
    d = _dir(r, r.query.get("uploadId", ""))
    shutil.rmtree(d, ignore_errors=True)
    r.note(None, None, "s3:AbortMultipartUpload")
    return Response(status_code=204)


MAX_UPLOADS = 1000


def _max_uploads(text: str | None) -> int:
    if text is None:
        return MAX_UPLOADS
    try:
        n = int(text)
    except ValueError:
        raise S3Error("InvalidArgument", "max-uploads must be an integer") from None
    if n < 0:
        raise S3Error("InvalidArgument", "max-uploads must not be negative")
    return min(n, MAX_UPLOADS)


def _after_markers(key: str, upload_id: str, key_marker: str, id_marker: str) -> bool:
    """S3's rule: keys after ``key-marker``; with ``upload-id-marker`` also uploads of that
    very key whose ids sort after it (``upload-id-marker`` alone is ignored)."""
    if not key_marker:
        return True
    if key > key_marker:
        return True
    return bool(id_marker) and key == key_marker and upload_id > id_marker


def list_uploads(r: S3Request) -> Response:
    """ListMultipartUploads: the caller's uploads into this bucket, as S3 lists them.

    Sorted by key, then upload id; ``prefix``, ``delimiter`` (common prefixes), ``key-marker``,
    ``upload-id-marker`` and ``max-uploads`` (at most 1,000) as S3 documents them; a truncated
    page gives ``NextKeyMarker``/``NextUploadIdMarker`` to ask for the next.
    """
    r.require("writer")
    q = r.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, id_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
    limit = _max_uploads(q.get("max-uploads"))
    found: list[tuple[str, str, str]] = []  # (key, upload id, initiated)
    root = Path(r.upload_dir)
    for d in root.iterdir() if root.is_dir() else []:
        if not UPLOAD_ID.match(d.name):
            continue
        try:
            meta = json.loads((d / _META).read_text())
        except (OSError, ValueError):
            continue
        key = meta.get("key")
        if meta.get("repo") != r.bucket or meta.get("user") != r.ident.name or not isinstance(key, str):
            continue
        if key.startswith(prefix) and _after_markers(key, d.name, key_marker, id_marker):
            found.append((key, d.name, str(meta.get("initiated", ""))))
    found.sort()
    items: list[str] = []
    prefixes: list[str] = []
    truncated = False
    last: tuple[str, str] | None = None
    for key, upload_id, initiated in found:
        common = None
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                common = key[: cut + len(delimiter)]
        if common is not None and prefixes and prefixes[-1] == common:
            continue  # this key is in the common prefix listed already
        if common is not None and key_marker == common:
            continue  # the previous page ended on this common prefix
        if len(items) + len(prefixes) >= limit:
            truncated = True
            break
        if common is not None:
            prefixes.append(common)
            last = (common, "")
            continue
        items.append(
            "<Upload>"
            + el("Key", key)
            + el("UploadId", upload_id)
            + el("Initiated", _initiated(initiated))
            + el("StorageClass", "STANDARD")
            + "</Upload>"
        )
        last = (key, upload_id)
    inner = el("Bucket", r.bucket) + el("KeyMarker", key_marker) + el("UploadIdMarker", id_marker)
    if truncated and last is not None:
        inner += el("NextKeyMarker", last[0]) + el("NextUploadIdMarker", last[1])
    inner += el("Prefix", prefix) + (el("Delimiter", delimiter) if delimiter else "")
    inner += el("MaxUploads", limit) + el("IsTruncated", "true" if truncated else "false")
    inner += "".join(items)
    inner += "".join("<CommonPrefixes>" + el("Prefix", p) + "</CommonPrefixes>" for p in prefixes)
    return Response(document("ListMultipartUploadsResult", inner), media_type="application/xml")


def _initiated(stored: str) -> str:
    """``upload.json``'s ISO time in S3's form (as stored if it cannot be read)."""
    try:
        return iso(datetime.fromisoformat(stored).astimezone(UTC))
    except ValueError:
        return stored
