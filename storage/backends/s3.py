"""A backend in an S3 bucket (AWS, MinIO or anything S3-compatible), through boto3.

Layout under ``s3://BUCKET/PREFIX``: objects at ``PREFIX/objects/ab/<id>``, metadata
documents at ``PREFIX/<name>``. Objects are small (a few MiB at most), so each is one
PutObject; retries with backoff on throttling, 5xx and connection errors are botocore's
``standard`` mode, bounded by ``max_attempts``. Every failure that survives the retries
becomes :class:`storage.errors.BackendUnavailable` with a one-line hint.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    IncompleteReadError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from storage.backends.base import Backend
from storage.backends.s3_direct import DirectGets
from storage.errors import BackendUnavailable, InvalidInput, ObjectNotFound, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Current AWS bucket naming rules (MinIO enforces the same ones).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AllAccessDisabled",
        "AccountProblem",
    }
)
_REGION_CODES = frozenset(
    {"PermanentRedirect", "301", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)
# Errors raised while streaming a GetObject body: after botocore's own retries, so retried here.
_BODY_ERRORS = (IncompleteReadError, ResponseStreamingError, ReadTimeoutError)


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://BUCKET[/PREFIX]`` into the bucket and the prefix (without slashes at the ends).

    Raises:
        InvalidInput: the URL is not of that form, or names an invalid bucket or prefix.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise InvalidInput(f"not an S3 URL: {url!r} (expected s3://BUCKET/PREFIX)")
    if parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise InvalidInput(
            f"invalid S3 URL {url!r}: expected s3://BUCKET/PREFIX "
            "with no credentials, port, query or fragment"
        )
    bucket = parts.netloc
    if not bucket:
        raise InvalidInput(f"invalid S3 URL {url!r}: no bucket name (expected s3://BUCKET/PREFIX)")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidInput(
            f"invalid S3 URL {url!r}: bucket name {bucket!r} must be 3-63 characters of lowercase "
            "letters, digits, dots and hyphens, starting and ending with a letter or digit"
        )
    prefix = parts.path.strip("/")
    if prefix:
        segments = prefix.split("/")
        if any(s in ("", ".", "..") for s in segments):
            raise InvalidInput(f"invalid S3 URL {url!r}: empty, '.' or '..' segment in prefix {prefix!r}")
    return bucket, prefix


class S3Backend(Backend):
    """Objects in an S3 bucket under an optional key prefix.

    One boto3 client is created per backend and shared by all threads (boto3 clients are
    thread-safe); ``max_pool_connections`` bounds its HTTP connections.
    """

    cheap_exists = False

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        max_attempts: int = 5,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        max_pool_connections: int = 32,
    ) -> None:
        """Open ``url`` (``s3://BUCKET/PREFIX``) without contacting the server.

        Args:
            url: the bucket and optional key prefix.
            endpoint_url: an S3-compatible endpoint (MinIO, ...). Without it boto3 uses
                ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` or the AWS config, else AWS.
            max_attempts: total tries per request (first try included), with backoff.
            connect_timeout: seconds to wait for a TCP connection.
            read_timeout: seconds to wait for data on an open connection.
            max_pool_connections: HTTP connections kept for concurrent requests.

        Raises:
            InvalidInput: a malformed URL or a non-positive limit.
        """
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        if max_attempts < 1:
            raise InvalidInput(f"max_attempts must be at least 1, not {max_attempts}")
        if max_pool_connections < 1:
            raise InvalidInput(f"max_pool_connections must be at least 1, not {max_pool_connections}")
        self.max_attempts = max_attempts
        self._objects_prefix = self._key("objects/")
        self._timeouts = (connect_timeout, read_timeout)
        self._pool = max_pool_connections
        # A session per backend: boto3's default session is not safe to share while creating clients.
        self._session = boto3.session.Session()
        # An endpoint from the environment is known without building a client (each costs
        # tens of milliseconds of botocore model loading, at every CLI start on an S3 store).
        env_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        path_style = endpoint_url is not None or (env_endpoint is not None and not _is_aws(env_endpoint))
        client = self._make_client(endpoint_url, path_style=path_style)
        if endpoint_url is None and not path_style and not _is_aws(client.meta.endpoint_url):
            # An endpoint from AWS_ENDPOINT_URL(_S3) or the AWS config: MinIO and most
            # S3-compatible servers need path-style addressing, as with an explicit one.
            client.close()
            client = self._make_client(None, path_style=True)
        self._client = client
        self.endpoint = client.meta.endpoint_url
        self._bucket_verified = False
        self._direct: DirectGets | None = None
        self._direct_ready = os.environ.get("DATAVC_S3_DIRECT", "1") == "0"  # "0": boto3 only
        self._direct_lock = threading.Lock()

    def _direct_gets(self) -> DirectGets | None:
        """The direct GET path (:mod:`storage.backends.s3_direct`), made on the first object read."""
        if not self._direct_ready:
            with self._direct_lock:
                if not self._direct_ready:
                    try:
                        credentials = self._session.get_credentials()
                    except Exception:
                        credentials = None
                    self._direct = DirectGets.for_client(
                        self._client, credentials, self.bucket, self._timeouts[1]
                    )
                    self._direct_ready = True
        return self._direct

    def _make_client(self, endpoint_url: str | None, *, path_style: bool) -> S3Client:
        config = Config(
            signature_version="s3v4",
            # total_max_attempts counts the first try, like AWS_MAX_ATTEMPTS; botocore's
            # "max_attempts" key would count retries only.
            retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
            connect_timeout=self._timeouts[0],
            read_timeout=self._timeouts[1],
            max_pool_connections=self._pool,
            s3={"addressing_style": "path" if path_style else "auto"},
            # Every object read is checked against its content id (ObjectStore.get_object), so
            # botocore's own CRC32 of each GET body is a second pass over every byte: about a
            # quarter of a download's client CPU. Uploads keep their checksum (S3 checks it on
            # arrival, before anything could read a bad object).
            response_checksum_validation="when_required",
        )
        try:
            return self._session.client("s3", endpoint_url=endpoint_url, config=config)
        except ValueError as err:  # botocore rejects a malformed endpoint URL with ValueError
            raise InvalidInput(f"invalid S3 endpoint URL {endpoint_url!r}: {err}") from err
        except BotoCoreError as err:
            raise BackendUnavailable(f"cannot configure an S3 client for {self.bucket}: {err}") from err

    @property
    def raw_client(self) -> S3Client:
        """The underlying boto3 client (tests and benchmarks)."""
        return self._client

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def object_key(self, oid: str) -> str:
        """The S3 key of object ``oid``."""
        return f"{self._objects_prefix}{oid[:2]}/{oid}"

    # -- error mapping ----------------------------------------------------------------

    def _where(self) -> str:
        return f"bucket {self.bucket} at {self.endpoint}"

    def _no_bucket(self) -> BackendUnavailable:
        return BackendUnavailable(f"bucket {self.bucket} does not exist at {self.endpoint}")

    def _unavailable(self, err: Exception, action: str) -> StorageError:
        """The :class:`BackendUnavailable` for a botocore error that survived the retries."""
        if isinstance(err, ClientError):
            code, status = _code(err), _status(err)
            message = err.response.get("Error", {}).get("Message", "") or str(status)
            if code == "NoSuchBucket":
                return self._no_bucket()
            if code in _DENIED_CODES or status == 403:
                return BackendUnavailable(
                    f"access denied to {self._where()} while trying to {action} ({code}): "
                    "check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) "
                    "and the bucket policy"
                )
            if code in _REGION_CODES or status == 301:
                return BackendUnavailable(
                    f"{self._where()} is in another region ({code}): "
                    "set AWS_DEFAULT_REGION to the bucket's region"
                )
            if status >= 500 or code in ("SlowDown", "Throttling", "ThrottlingException", "RequestTimeout"):
                return BackendUnavailable(
                    f"S3 kept failing for {self._where()} while trying to {action} ({code}, "
                    f"{self.max_attempts} attempts): check the service's health and retry later"
                )
            return BackendUnavailable(f"S3 refused to {action} in {self._where()}: {code}: {message}")
        if isinstance(err, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
            return BackendUnavailable(
                f"no usable AWS credentials for {self._where()} ({err}): set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            )
        return BackendUnavailable(
            f"cannot reach S3 {self._where()} while trying to {action} ({type(err).__name__}, "
            f"{self.max_attempts} attempts): check that the server is running and the endpoint URL "
            "(AWS_ENDPOINT_URL) and network are right"
        )

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn botocore errors that survived the retries into :class:`BackendUnavailable`."""
        try:
            yield
        except ParamValidationError:
            raise  # a bug in this module, not a backend failure
        except (ClientError, BotoCoreError) as err:
            raise self._unavailable(err, action) from err

    def _check_bucket(self) -> None:
        """Once per backend, tell a missing bucket from a missing key (HEAD 404s carry no code)."""
        if self._bucket_verified:
            return
        with self._errors("check the bucket"):
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except ClientError as err:
                if _code(err) in _NOT_FOUND_CODES or _status(err) == 404:
                    raise self._no_bucket() from err
                raise
        self._bucket_verified = True

    # -- objects ----------------------------------------------------------------------

    def put(self, oid: str, data: bytes | memoryview) -> None:
        self._put_key(self.object_key(oid), data, f"write object {oid}")

    def _put_key(self, key: str, data: bytes | memoryview, action: str) -> None:
        body = data if isinstance(data, bytes) else bytes(data)
        with self._errors(action):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body)

    def get(self, oid: str) -> bytes:
        direct = self._direct_gets()
        if direct is not None:
            fast = direct.get(self.object_key(oid))
            if fast is not None:
                return fast
        # No direct path, or it failed: boto3 repeats the GET with its retries and error mapping.
        data = self._get_key(self.object_key(oid), f"read object {oid}", verified=True)
        if data is None:
            raise ObjectNotFound(oid, self.url)
        return data

    def _get_key(self, key: str, action: str, *, verified: bool = False) -> bytes | None:
        """The bytes at ``key``, or None if there is no such key.

        Args:
            verified: the caller checks the bytes against their content id (an object);
                otherwise (a metadata document) botocore checks the S3 checksum, if any.
        """
        attempt = 1
        while True:
            with self._errors(action):
                try:
                    if verified:
                        response = self._client.get_object(Bucket=self.bucket, Key=key)
                    else:
                        response = self._client.get_object(
                            Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"
                        )
                except ClientError as err:
                    if _code(err) == "NoSuchKey":
                        return None
                    raise
                body = response["Body"]
                try:
                    return body.read()
                except _BODY_ERRORS:
                    # The body broke off mid-stream: botocore retries requests, not body reads.
                    body.close()
                    if attempt >= self.max_attempts:
                        raise
            time.sleep(random.uniform(0, min(2.0**attempt, 20.0)))
            attempt += 1

    def exists(self, oid: str) -> bool:
        with self._errors(f"check for object {oid}"):
            try:
                self._client.head_object(Bucket=self.bucket, Key=self.object_key(oid))
            except ClientError as err:
                if _code(err) in _NOT_FOUND_CODES or _status(err) == 404:
                    self._check_bucket()
                    return False
                raise
        return True

    def size(self, oid: str) -> int | None:
        with self._errors(f"check for object {oid}"):
            try:
                head = self._client.head_object(Bucket=self.bucket, Key=self.object_key(oid))
            except ClientError as err:
                if _code(err) in _NOT_FOUND_CODES or _status(err) == 404:
                    self._check_bucket()
                    return None
                raise
        return int(head["ContentLength"])

    def replace(self, oid: str, data: bytes | memoryview) -> None:
        self.put(oid, data)  # a PUT replaces the object

    def delete(self, oid: str) -> None:
        # DeleteObject succeeds for a missing key, so this is idempotent.
        with self._errors(f"delete object {oid}"):
            self._client.delete_object(Bucket=self.bucket, Key=self.object_key(oid))

    def iter_ids(self) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors("list objects"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._objects_prefix):
                for entry in page.get("Contents", []):
                    name = entry.get("Key", "").rsplit("/", 1)[-1]
                    if name:  # skip "folder" markers that consoles create
                        yield name

    def iter_stat(self) -> Iterator[tuple[str, float, int]]:
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors("list objects"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._objects_prefix):
                for entry in page.get("Contents", []):
                    name = entry.get("Key", "").rsplit("/", 1)[-1]
                    if name and "LastModified" in entry:
                        yield name, entry["LastModified"].timestamp(), int(entry.get("Size", 0))

    def mtime(self, oid: str) -> float | None:
        with self._errors(f"check for object {oid}"):
            try:
                head = self._client.head_object(Bucket=self.bucket, Key=self.object_key(oid))
            except ClientError as err:
                if _code(err) in _NOT_FOUND_CODES or _status(err) == 404:
                    return None
                raise
        return head["LastModified"].timestamp()

    def touch(self, oid: str) -> None:
        # S3 has no utime: copying an object onto itself with new metadata renews LastModified.
        key = self.object_key(oid)
        with self._errors(f"touch object {oid}"):
            try:
                self._client.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": key},
                    MetadataDirective="REPLACE",
                    Metadata={"datavc-touched": "1"},
                )
            except ClientError as err:
                if _code(err) in _NOT_FOUND_CODES or _status(err) == 404:
                    return
                raise

    # -- metadata ---------------------------------------------------------------------

    def read_meta(self, name: str) -> bytes | None:
        return self._get_key(self._meta_key(name), f"read {name}")

    def write_meta(self, name: str, data: bytes) -> None:
        self._put_key(self._meta_key(name), data, f"write {name}")

    def _meta_key(self, name: str) -> str:
        if not name or name.startswith("/") or name.split("/")[0] == "objects":
            raise InvalidInput(f"invalid metadata document name {name!r}")
        return self._key(name)

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
        self._client.close()


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _is_aws(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
