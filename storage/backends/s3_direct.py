"""Object GETs without boto3's per-request machinery: one SigV4 signature, one ``http.client`` GET.

Why: a boto3 ``get_object`` costs about 2 ms of client CPU before the first byte (its
event hooks, request serialisation, response parsing, a connection-pool lookup), and a
fresh checkout GETs about 250 objects per GiB. Measured against a moto server: 2.4 ms of
CPU per GET of a small object through boto3, 0.7 ms signed here and fetched with
``http.client`` (``scripts/bench_speed.py``). The signature is botocore's own
(``S3SigV4Auth``, header auth: nothing secret ever sits in a URL), over the object's URL
as the same client would address it (derived once from a presigned URL of a probe key,
so path-style and virtual-hosted addressing and the endpoint are exactly boto3's). The
answer's length is checked against ``Content-Length`` and read with one ``read`` into a
buffer of that size.

Anything but a whole 200 answer (an error status, a cut connection, missing credentials)
makes :meth:`DirectGets.get` answer None, and the caller repeats the GET through boto3,
which retries with backoff and maps the failure to the one-line error it always gave. So
this path needs no retry or error mapping of its own, and its messages and logs never
carry a URL or a header: a signature cannot leak through them.

Not used where boto3 would send the request through a proxy (``HTTP(S)_PROXY``), nor
when the client's credentials cannot be read: boto3 stays in charge then.
"""

from __future__ import annotations

import http.client
import logging
import os
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest

from storage.httppool import ConnectionPool, proxied

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

#: Largest body read from an error answer before the connection is dropped.
ERROR_BODY_MAX = 64 * 1024
#: Failures, before any success, after which the direct path stays off for the backend.
GIVE_UP = 3
#: Characters boto3 leaves unquoted in a key's path.
_KEY_SAFE = "/~"


class DirectGets:
    """Signed GETs of whole objects of one bucket, over a small pool of kept-alive connections.

    Thread-safe: each call takes an idle connection (or opens one) and gives it back only
    after its answer was read whole; a connection that saw any error is closed.
    """

    def __init__(
        self,
        client: S3Client,
        credentials: Any,
        bucket: str,
        *,
        timeout: float,
    ) -> None:
        probe = "datavc-probe"
        presigned = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": probe}, ExpiresIn=60
        )
        parts = urlsplit(presigned)
        quoted = quote(probe, safe=_KEY_SAFE)
        if parts.scheme not in ("http", "https") or not parts.hostname or not parts.path.endswith(quoted):
            raise ValueError("unexpected presigned URL shape")
        https = parts.scheme == "https"
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base = parts.path[: -len(quoted)]  # "/bucket/" (path style) or "/" (virtual hosted)
        self._credentials = credentials
        self._region = client.meta.region_name or "us-east-1"
        context = _ssl_context(client) if https else None
        self._off = False
        self._worked = False
        self._misses = 0
        self._pool = ConnectionPool(parts.hostname, parts.port, https=https, context=context, timeout=timeout)

    @classmethod
    def for_client(cls, client: S3Client, credentials: Any, bucket: str, timeout: float) -> DirectGets | None:
        """Direct GETs through ``client``'s endpoint, or None where boto3 must stay in charge
        (no credentials, a proxy, an address this module does not understand)."""
        if credentials is None:
            return None
        try:
            direct = cls(client, credentials, bucket, timeout=timeout)
        except Exception as err:  # any surprise here only costs the fast path
            log.debug("direct S3 GETs off: %s", type(err).__name__)
            return None
        if proxied(direct._origin):
            return None
        return direct

    def close(self) -> None:
        """Close the idle connections (those in use close when their GET ends)."""
        self._pool.close()

    def _signed_headers(self, path: str) -> dict[str, str]:
        frozen = self._credentials.get_frozen_credentials()
        request = AWSRequest(method="GET", url=self._origin + path, headers={})
        S3SigV4Auth(frozen, "s3", self._region).add_auth(request)
        return dict(request.headers.items())

    def get(self, key: str) -> bytes | None:
        """The whole object at ``key``, or None when anything but a whole 200 answer came
        (the caller then asks boto3, which retries and names the failure).

        After :data:`GIVE_UP` failures before any success the path turns itself off (an
        endpoint that refuses these requests would otherwise be asked everything twice).
        """
        if self._off:
            return None
        data = self._get(key)
        if data is not None:
            self._worked = True
        elif not self._worked:
            self._misses += 1  # a lost update between threads only delays this
            if self._misses >= GIVE_UP:
                self._off = True
                log.debug("direct S3 GETs off after %d failures", self._misses)
        return data

    def _get(self, key: str) -> bytes | None:
        path = self._base + quote(key, safe=_KEY_SAFE)
        conn: http.client.HTTPConnection | None = None
        ok = False
        try:
            headers = self._signed_headers(path)
            conn = self._pool.take()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            if resp.status != 200:
                resp.read(ERROR_BODY_MAX)
                if resp.status == 404:
                    self._worked = True  # a signed request understood: only this key is missing
                log.debug("direct GET answered %d; asking boto3", resp.status)
                return None
            length = resp.getheader("Content-Length") or ""
            if not length.isdigit():
                return None
            data = resp.read()  # reads exactly Content-Length bytes, or raises IncompleteRead
            if len(data) != int(length):
                return None
            ok = not resp.will_close
            return data
        except Exception as err:
            # The type only: an exception's text may hold the URL, and nothing here may leak a header.
            log.debug("direct GET failed (%s); asking boto3", type(err).__name__)
            return None
        finally:
            if conn is not None:
                if ok:
                    self._pool.give_back(conn)
                else:
                    conn.close()


def _ssl_context(client: S3Client) -> ssl.SSLContext:
    """The CA bundle boto3 checks certificates with: ``AWS_CA_BUNDLE``, else botocore's default."""
    from botocore.httpsession import get_cert_path

    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    verify: object = getattr(session, "_verify", True)  # what the client itself trusts
    if verify is False:
        raise ValueError("certificate checks are off: leave those requests to boto3")
    cafile = get_cert_path(True) if verify in (True, None) else verify
    if not isinstance(cafile, str | os.PathLike):
        raise ValueError("no CA bundle")
    return ssl.create_default_context(cafile=os.fspath(cafile))
