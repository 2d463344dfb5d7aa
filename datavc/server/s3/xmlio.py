"""S3 XML: the error document with its codes and statuses, and small builders for answers.

Answers are written as text with every value escaped (``xml.sax.saxutils``): the shapes
are fixed and small, and listings are produced page by page without building a tree.
Request documents (DeleteObjects, CompleteMultipartUpload) are parsed with
``defusedxml``-free ``xml.etree`` after a size cap and a refusal of DTDs and entities,
since they come from the network.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from xml.sax.saxutils import escape

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_REQUEST_XML = 2 * 1024 * 1024

STATUS = {
    "AccessDenied": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "BadDigest": 400,
    "BucketAlreadyOwnedByYou": 409,
    "EntityTooLarge": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidAccessKeyId": 403,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "MalformedXML": 400,
    "MethodNotAllowed": 405,
    "MissingContentLength": 411,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NotImplemented": 501,
    "OperationAborted": 409,
    "PreconditionFailed": 412,
    "RequestTimeTooSkewed": 403,
    "ServiceUnavailable": 503,
    "SignatureDoesNotMatch": 403,
    "XAmzContentSHA256Mismatch": 400,
}


class S3Error(Exception):
    """An S3 error answer: ``code`` (e.g. NoSuchKey) and a one-line message."""

    def __init__(self, code: str, message: str, *, resource: str = "", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = " ".join(message.splitlines())
        self.resource = resource
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)


def error_document(err: S3Error, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message>"
        f"<Resource>{escape(err.resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()


def iso(t: datetime) -> str:
    """S3's timestamp form: 2026-11-30T22:45:00.000Z."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def http_date(t: datetime) -> str:
    return t.strftime("%a, %d %b %Y %H:%M:%S GMT")


def el(tag: str, value: object) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"


def document(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{inner}</{root}>'.encode()


def parse_request(data: bytes) -> ET.Element:
    """A request's XML document, stripped of namespaces.

    Raises:
        S3Error: MalformedXML (also for any DTD or entity declaration).
    """
    if len(data) > MAX_REQUEST_XML:
        raise S3Error("MalformedXML", "the XML document is too large")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise S3Error("MalformedXML", "DTDs and entities are not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        raise S3Error("MalformedXML", "the XML you provided was not well-formed") from None
    for e in root.iter():
        if isinstance(e.tag, str) and "}" in e.tag:
            e.tag = e.tag.split("}", 1)[1]
    return root
