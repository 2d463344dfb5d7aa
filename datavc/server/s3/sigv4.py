"""AWS Signature Version 4, server side: the Authorization header, presigned URLs, and
``aws-chunked`` bodies (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` with a signature per chunk,
and the ``...-TRAILER`` / ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` variants newer SDKs send).

Everything is computed from the request exactly as it arrived (raw path, raw query
string, header values), because a signature covers the bytes the client saw.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from datavc.server.s3.xmlio import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN = 7 * 24 * 3600
MAX_CHUNK = 64 * 1024 * 1024
"""A signed chunk is held whole to check its signature: refuse absurd sizes."""

_CRED = re.compile(r"^([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Auth:
    """The parsed signature fields of one request."""

    access_key: str
    date: str  # YYYYMMDD of the scope
    region: str
    service: str
    amz_date: str  # the request time, YYYYMMDDTHHMMSSZ
    signed_headers: list[str]
    signature: str
    payload: str  # the x-amz-content-sha256 value (or UNSIGNED-PAYLOAD for presigned)
    presigned: bool
    expires: int = 0

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def _cred(value: str) -> tuple[str, str, str, str]:
    m = _CRED.match(value)
    if m is None:
        raise S3Error("AuthorizationHeaderMalformed", "the Credential is malformed")
    return m.group(1), m.group(2), m.group(3), m.group(4)


def parse(headers: dict[str, str], query: list[tuple[str, str]]) -> Auth | None:
    """The request's signature fields, None for an anonymous request.

    Raises:
        S3Error: a malformed or unsupported Authorization.
    """
    header = headers.get("authorization")
    q = dict(query)
    if header:
        if not header.startswith(ALGORITHM + " "):
            if header.startswith("AWS "):
                raise S3Error("InvalidRequest", "signature version 2 is not supported: use AWS Signature V4")
            raise S3Error("AuthorizationHeaderMalformed", "unsupported authorization scheme")
        fields: dict[str, str] = {}
        for part in header[len(ALGORITHM) + 1 :].split(","):
            k, _, v = part.strip().partition("=")
            fields[k] = v
        try:
            ak, date, region, service = _cred(fields["Credential"])
            signed = fields["SignedHeaders"].split(";")
            sig = fields["Signature"]
        except KeyError:
            raise S3Error("AuthorizationHeaderMalformed", "the Authorization header is incomplete") from None
        amz_date = headers.get("x-amz-date", "")
        payload = headers.get("x-amz-content-sha256", "")
        if not payload:
            raise S3Error("InvalidRequest", "missing x-amz-content-sha256")
        return Auth(ak, date, region, service, amz_date, signed, sig, payload, presigned=False)
    if "AWSAccessKeyId" in q:
        raise S3Error(
            "InvalidRequest", "signature version 2 is not supported: presign with AWS Signature V4 (s3v4)"
        )
    if "X-Amz-Signature" in q:
        if q.get("X-Amz-Algorithm") != ALGORITHM:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Algorithm must be AWS4-HMAC-SHA256")
        try:
            ak, date, region, service = _cred(q["X-Amz-Credential"])
            expires = int(q["X-Amz-Expires"])
            return Auth(
                ak,
                date,
                region,
                service,
                q["X-Amz-Date"],
                q["X-Amz-SignedHeaders"].split(";"),
                q["X-Amz-Signature"],
                UNSIGNED,
                presigned=True,
                expires=expires,
            )
        except (KeyError, ValueError):
            raise S3Error("AuthorizationQueryParametersError", "incomplete presigned URL") from None
    return None


def _uri_encode(s: str) -> str:
    return quote(s, safe="-_.~")


def canonical_query(raw_query: str, *, drop_signature: bool) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        if not part:
            continue
        k, _, v = part.partition("=")
        k, v = unquote(k.replace("+", " ")), unquote(v.replace("+", " "))
        if drop_signature and k == "X-Amz-Signature":
            continue
        pairs.append((_uri_encode(k), _uri_encode(v)))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _trim(v: str) -> str:
    return " ".join(v.strip().split())


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def _hmac_hex(key: bytes, msg: str) -> str:
    return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()


def _parse_time(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise S3Error("AccessDenied", "X-Amz-Date is missing or malformed") from None


def verify(
    auth: Auth, secret: str, method: str, raw_path: str, raw_query: str, headers: dict[str, str]
) -> bytes:
    """Check the signature; returns the signing key (chunk signatures need it).

    Raises:
        S3Error: SignatureDoesNotMatch, RequestTimeTooSkewed, AccessDenied (expired URL).
    """
    if auth.service != "s3":
        raise S3Error("AuthorizationHeaderMalformed", f"the credential scope names service {auth.service!r}")
    when = _parse_time(auth.amz_date)
    at = datetime.now(UTC)
    if auth.amz_date[:8] != auth.date:
        raise S3Error("SignatureDoesNotMatch", "the credential date is not the request date")
    if auth.presigned:
        if not 1 <= auth.expires <= MAX_PRESIGN:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be 1..604800 seconds")
        if at > when + timedelta(seconds=auth.expires):
            raise S3Error("AccessDenied", "request has expired")
        if when - at > MAX_SKEW:
            raise S3Error("RequestTimeTooSkewed", "the request time is too far from the server's time")
    elif abs(at - when) > MAX_SKEW:
        raise S3Error("RequestTimeTooSkewed", "the request time is too far from the server's time")
    if "host" not in auth.signed_headers:
        raise S3Error("AccessDenied", "the signature must cover the Host header")
    canon_headers = "".join(f"{h}:{_trim(headers.get(h, ''))}\n" for h in auth.signed_headers)
    canonical = "\n".join(
        [
            method,
            raw_path or "/",
            canonical_query(raw_query, drop_signature=auth.presigned),
            canon_headers,
            ";".join(auth.signed_headers),
            auth.payload,
        ]
    )
    to_sign = "\n".join(
        [ALGORITHM, auth.amz_date, auth.scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = signing_key(secret, auth.date, auth.region, auth.service)
    if not hmac.compare_digest(_hmac_hex(key, to_sign), auth.signature):
        raise S3Error(
            "SignatureDoesNotMatch",
            "the request signature we calculated does not match the signature you provided; "
            "check your key and signing method",
        )
    return key


def is_streaming(payload: str) -> bool:
    return payload.startswith("STREAMING-")


def check_payload_header(payload: str) -> None:
    if payload in (UNSIGNED, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
        return
    if not _HEX64.match(payload):
        raise S3Error("InvalidArgument", "x-amz-content-sha256 is not a SHA-256 or a known payload mode")


async def decode_body(
    stream: AsyncIterator[bytes], auth: Auth | None, key: bytes | None
) -> AsyncIterator[bytes]:
    """The payload of a request body, decoded and checked as its ``x-amz-content-sha256`` says.

    A plain body with a hex SHA-256 is hashed as it passes and refused at the end on a
    mismatch (XAmzContentSHA256Mismatch); an aws-chunked body is decoded, each chunk's
    signature checked (signed modes) before its bytes are passed on.
    """
    payload = auth.payload if auth else UNSIGNED
    if not is_streaming(payload):
        h = hashlib.sha256() if _HEX64.match(payload) else None
        async for piece in stream:
            if h is not None:
                h.update(piece)
            if piece:
                yield piece
        if h is not None and h.hexdigest() != payload:
            raise S3Error("XAmzContentSHA256Mismatch", "the body does not match x-amz-content-sha256")
        return
    signed = payload in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
    assert auth is not None
    reader = _Buffered(stream)
    prev = auth.signature
    while True:
        line = await reader.line()
        size_hex, _, ext = line.partition(";")
        try:
            size = int(size_hex.strip(), 16)
        except ValueError:
            raise S3Error("IncompleteBody", "malformed aws-chunked body") from None
        if size > MAX_CHUNK:
            raise S3Error("InvalidRequest", "aws-chunked chunk too large")
        data = await reader.exactly(size) if size else b""
        if signed:
            assert key is not None
            sig = ext.partition("chunk-signature=")[2].strip()
            to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    auth.amz_date,
                    auth.scope,
                    prev,
                    EMPTY_SHA256,
                    hashlib.sha256(data).hexdigest(),
                ]
            )
            if not hmac.compare_digest(_hmac_hex(key, to_sign), sig):
                raise S3Error("SignatureDoesNotMatch", "a chunk signature does not match")
            prev = sig
        if size == 0:
            break
        yield data
        if await reader.line() != "":
            raise S3Error("IncompleteBody", "malformed aws-chunked body")
    # Trailers (checksums, trailer signature) up to the empty line; the chunks are already checked.
    while (await reader.line(eof_ok=True)) not in ("", None):
        pass


class _Buffered:
    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        self._it = stream.__aiter__()
        self._buf = bytearray()
        self._eof = False

    async def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            piece = await self._it.__anext__()
        except StopAsyncIteration:
            self._eof = True
            return False
        self._buf += piece
        return True

    async def line(self, *, eof_ok: bool = False) -> str:
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self._buf[:i])
                del self._buf[: i + 2]
                return out.decode("latin-1")
            if len(self._buf) > 64 * 1024:
                raise S3Error("IncompleteBody", "malformed aws-chunked body")
            if not await self._fill():
                if eof_ok:
                    return ""
                raise S3Error("IncompleteBody", "the body ended early")

    async def exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not await self._fill():
                raise S3Error("IncompleteBody", "the body ended early")
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out
