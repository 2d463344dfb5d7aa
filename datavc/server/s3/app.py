"""The S3 gateway's ASGI app: authentication (SigV4), dispatch to the S3 operations, S3 errors.

Path-style addressing only (``/<bucket>/<key>``, bucket = repo, key = ``<ref>/<path>``):
virtual-host style needs wildcard DNS, and every client here can be told to use paths.
The gateway is its own ASGI app on its own port (``datavc serve --s3-port``), because
S3 clients (rclone, s3cmd) take an endpoint host, not a path prefix. It wraps the same
``Client`` and writes the same audit log as the API.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from datavc import errors, s3keys
from datavc.client import Client
from datavc.context import Context
from datavc.server.audit import AuditMiddleware
from datavc.server.s3 import buckets, multipart, objects, sigv4
from datavc.server.s3.context import S3Request
from datavc.server.s3.xmlio import MAX_REQUEST_XML, S3Error, error_document

log = logging.getLogger("datavc.server.s3")

_UNSUPPORTED = frozenset(
    [
        "acl",
        "policy",
        "cors",
        "lifecycle",
        "tagging",
        "encryption",
        "object-lock",
        "website",
        "logging",
        "notification",
        "replication",
        "ownershipControls",
        "publicAccessBlock",
        "accelerate",
        "requestPayment",
        "analytics",
        "inventory",
        "metrics",
        "intelligent-tiering",
        "retention",
        "legal-hold",
        "torrent",
        "restore",
        "select",
        "attributes",
    ]
)


def default_upload_dir(client: Client) -> Path:
    """``.datavc/s3-uploads``, or a private per-user directory (:mod:`datavc.multipart_uploads`)."""
    from datavc.multipart_uploads import upload_dir

    return upload_dir(client.context.home, client.config.objects)


def create_app(client: Client, *, upload_dir: Path | None = None) -> Starlette:
    """The S3 gateway over ``client``'s store. Multipart parts are staged under ``upload_dir``."""
    gateway = _Gateway(client, upload_dir or default_upload_dir(client))
    app = Starlette(
        routes=[
            Route(
                "/{path:path}", gateway.endpoint, methods=["GET", "HEAD", "PUT", "POST", "DELETE"], name="s3"
            )
        ]
    )
    app.add_middleware(AuditMiddleware, client=client)
    return app


def _translate(err: errors.DatavcError, key: str) -> S3Error:
    message = str(err) or err.category
    if isinstance(err, errors.RepoNotFound):
        return S3Error("NoSuchBucket", message)
    if isinstance(err, errors.NotFound):
        return S3Error("NoSuchKey", message, resource=key)
    if isinstance(err, errors.Forbidden | errors.Unauthenticated):
        return S3Error("AccessDenied", message)
    if isinstance(err, errors.InvalidArgument):
        return S3Error("InvalidArgument", message)
    if isinstance(err, errors.AlreadyExists | errors.Conflict):
        return S3Error("OperationAborted", message)
    if isinstance(err, errors.BackendUnavailable):
        return S3Error("ServiceUnavailable", message)
    return S3Error("InternalError", message)


class _Gateway:
    def __init__(self, client: Client, upload_dir: Path) -> None:
        self.client = client
        self.upload_dir = upload_dir
        self._master: bytes | None = None

    def master(self) -> bytes:
        if self._master is None:
            self._master = s3keys.master_key(self.client.context)
        return self._master

    async def endpoint(self, request: Request) -> Response:
        rid = secrets.token_hex(8).upper()
        resource = unquote(request.scope.get("raw_path", b"").decode("latin-1"))
        try:
            resp = await self._handle(request)
        except S3Error as err:
            resp = self._error(request, err, resource, rid)
        except errors.DatavcError as err:
            resp = self._error(request, _translate(err, resource), resource, rid)
        except Exception:
            log.exception("S3 gateway: unexpected error on %s %s", request.method, resource)
            resp = self._error(request, S3Error("InternalError", "internal server error"), resource, rid)
        resp.headers["x-amz-request-id"] = rid
        return resp

    def _error(self, request: Request, err: S3Error, resource: str, rid: str) -> Response:
        request.state.audit_result = f"{err.code}: {err.message}"
        err.resource = err.resource or resource
        headers = dict(err.headers)
        if request.method in ("PUT", "POST"):
            # The body may be unread (a refusal comes before it is needed): close the connection
            # rather than let its bytes be taken for the next request.
            headers["Connection"] = "close"
        if request.method == "HEAD":
            return Response(status_code=err.status, headers=headers)
        return Response(
            error_document(err, rid), status_code=err.status, media_type="application/xml", headers=headers
        )

    def _user_client(self, name: str) -> Client:
        base = self.client
        ctx = Context(base.context.db, base.context.store, user=name, home=base.context.home)
        ctx.executor_settings = base.context.executor_settings
        return Client(base.config, ctx)

    async def _handle(self, request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        raw_path_s = raw_path.decode("latin-1")
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = parse_qsl(raw_query, keep_blank_values=True)
        auth = sigv4.parse(headers, query)
        if auth is None:
            raise S3Error("AccessDenied", "anonymous access is not allowed: sign requests with an S3 key")
        master = await run_in_threadpool(self.master)
        found = await run_in_threadpool(s3keys.lookup, self.client.context, auth.access_key, master)
        if found is None:
            raise S3Error("InvalidAccessKeyId", "the access key id does not exist or was revoked")
        ident, secret = found
        key = sigv4.verify(auth, secret, request.method, raw_path_s, raw_query, headers)
        request.state.identity = ident
        if not auth.presigned:
            sigv4.check_payload_header(auth.payload)
        path = unquote(raw_path_s)
        bucket, _, obj_key = path.lstrip("/").partition("/")
        request.state.audit_path = "/" + bucket + ("/" + obj_key if obj_key else "")
        if bucket:
            request.state.audit_repo = bucket
        r = S3Request(
            request=request,
            client=self._user_client(ident.name),
            ident=ident,
            bucket=bucket,
            key=obj_key,
            query=dict(query),
            auth=auth,
            signing_key=key,
            upload_dir=self.upload_dir,
            body=sigv4.decode_body(request.stream(), auth, key),
        )
        return await self._dispatch(r)

    async def _read_xml(self, r: S3Request) -> bytes:
        assert r.body is not None
        buf = bytearray()
        async for piece in r.body:
            buf += piece
            if len(buf) > MAX_REQUEST_XML:
                raise S3Error("MalformedXML", "the XML document is too large")
        return bytes(buf)

    async def _dispatch(self, r: S3Request) -> Response:
        method, q = r.request.method, r.query

        def sync(fn: Callable[..., Response], *args: object) -> Awaitable[Response]:
            return run_in_threadpool(fn, r, *args)

        if _UNSUPPORTED.intersection(q):
            raise S3Error(
                "NotImplemented", f"{', '.join(sorted(_UNSUPPORTED.intersection(q)))} is not supported"
            )
        if not r.bucket:
            if method == "GET":
                return await sync(buckets.list_buckets)
            raise S3Error("MethodNotAllowed", "only GET (ListBuckets) is allowed on the service")
        if not r.key:
            if method == "GET":
                if "location" in q:
                    return await sync(buckets.location)
                if "versioning" in q:
                    return await sync(buckets.versioning)
                if "uploads" in q:
                    return await sync(multipart.list_uploads)
                return await run_in_threadpool(lambda: buckets.list_objects(r, v2=q.get("list-type") == "2"))
            if method == "HEAD":
                return await sync(buckets.head_bucket)
            if method == "PUT":
                await self._drain(r)
                return await sync(buckets.create_bucket)
            if method == "POST" and "delete" in q:
                data = await self._read_xml(r)
                return await sync(objects.delete_objects, data)
            raise S3Error("NotImplemented", "delete a repo with `datavc repo delete`")
        if method in ("GET", "HEAD"):
            if method == "GET" and "uploadId" in q:
                return await sync(multipart.list_parts)
            return await run_in_threadpool(lambda: objects.get_object(r, head=method == "HEAD"))
        if method == "PUT":
            if "uploadId" in q or "partNumber" in q:
                if "x-amz-copy-source" in r.headers:
                    raise S3Error("NotImplemented", "UploadPartCopy is not supported: use CopyObject")
                return await multipart.upload_part(r)
            if "x-amz-copy-source" in r.headers:
                await self._drain(r)
                return await sync(objects.copy_object)
            return await objects.put_object(r)
        if method == "POST":
            if "uploads" in q:
                await self._drain(r)
                return await sync(multipart.create)
            if "uploadId" in q:
                data = await self._read_xml(r)
                return await sync(multipart.complete, data)
            raise S3Error("NotImplemented", "this POST is not supported")
        if "uploadId" in q:
            return await sync(multipart.abort)
        return await sync(objects.delete_object)

    async def _drain(self, r: S3Request) -> None:
        """Read (and so check) a body the operation does not use."""
        body: AsyncIterator[bytes] | None = r.body
        if body is not None:
            async for _ in body:
                pass
