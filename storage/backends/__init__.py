"""Object backends, looked up by URL: ``memory://``, a local path (or ``file://``), ``s3://bucket/prefix``."""

from __future__ import annotations

from storage.backends.base import Backend
from storage.errors import InvalidInput


def open_backend(url: str) -> Backend:
    """The backend a URL names.

    Raises:
        InvalidInput: an unknown scheme or a malformed URL.
    """
    if url == "memory://":
        from storage.backends.memory import MemoryBackend

        return MemoryBackend()
    if url.startswith("s3://"):
        from storage.backends.s3 import S3Backend

        return S3Backend(url)
    if url.startswith("file://"):
        url = url[len("file://") :]
    elif "://" in url:
        raise InvalidInput(f"unsupported object store URL {url!r} (use a local path, file://, s3:// or memory://)")
    if not url:
        raise InvalidInput("empty object store path")
    from storage.backends.local import LocalBackend

    return LocalBackend(url)


__all__ = ["Backend", "open_backend"]
