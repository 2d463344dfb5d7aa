"""Ranged GETs of large files written straight to disk: ``http.client``, ``readinto``, ``pwrite``.

Why: httpx (over httpcore and h11) hands a response body over in 64 KiB pieces, each
several Python calls, and writing each piece is one more. A 1 GiB download through four
parallel ranged GETs was 16k pieces, 32k system calls and about a quarter of the
client's CPU in the interpreter, with four threads taking turns at the GIL (141k futex
calls per GiB, measured with strace). ``http.client``'s ``HTTPResponse.readinto`` fills
a caller's buffer from the socket in C, so a part costs one Python call and one
``pwrite`` per :data:`BUFFER` bytes, and the GIL is released for all of it.

Only the large-file path uses this (``datavc.transfer``); every other request stays on
the ``RemoteClient``'s httpx client. Both send the same ``Authorization`` header and
check TLS the same way (system CAs, ``DATAVC_CA_BUNDLE``, or off when the client was
made with ``verify=False``). Where httpx would go through a proxy (``HTTP(S)_PROXY``),
:func:`direct_reader` answers None and the caller keeps httpx, which honours it.

Connections are kept alive and reused (a small pool, one per request in flight), and a
connection is dropped after any error, so a half-read answer is never read as the next.
"""

from __future__ import annotations

import http.client
import os
import ssl
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from datavc import errors
from storage.httppool import ConnectionPool, proxied

__all__ = ["RangeReader", "direct_reader", "proxied", "ssl_context"]

MiB = 1024 * 1024
#: Bytes read from the socket per ``readinto`` and written per ``pwrite``.
BUFFER = 4 * MiB
#: Largest error body read (a JSON error document).
ERROR_BODY_MAX = 64 * 1024

#: Turns an error answer (status, headers, body) into the error the httpx path would raise.
ErrorFor = Callable[[int, Mapping[str, str], bytes], errors.DatavcError]


class RangeReader:
    """Ranged GETs against one server, each written into a file descriptor at its offset.

    Thread-safe: each call takes a connection from the pool (or opens one) and gives it
    back once its answer was read whole.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        context: ssl.SSLContext | None,
        timeout: float,
        error_for: ErrorFor,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.InvalidArgument(f"server URL {url!r} must start with http:// or https://")
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers)
        self._error_for = error_for
        self._pool = ConnectionPool(
            parts.hostname, parts.port, https=parts.scheme == "https", context=context, timeout=timeout
        )

    def close(self) -> None:
        """Close every idle connection (those in use close when their call ends)."""
        self._pool.close()

    def fetch(
        self,
        path: str,
        start: int,
        length: int,
        whole: int,
        fd: int,
        what: str,
        tick: Callable[[int], None] | None = None,
    ) -> int:
        """Bytes ``[start, start+length)`` of the file at ``path`` (``whole`` bytes) into ``fd`` at ``start``.

        ``path`` is the API path (below the server URL's own path), already quoted. The
        answer must be a 206 of exactly ``length`` bytes (a 200 only when the range is the
        whole file); anything else is an error and the bytes written so far are not
        trusted by the caller.

        Raises:
            The error the server's answer maps to (``error_for``); BackendUnavailable: the
            server cannot be reached, ignored the range, or sent more or less than asked.
        """
        headers = {**self._headers, "Range": f"bytes={start}-{start + length - 1}"}
        conn = self._pool.take()
        ok = False
        try:
            conn.request("GET", self._prefix + path, headers=headers)
            resp = conn.getresponse()
            if resp.status >= 400:
                body = resp.read(ERROR_BODY_MAX)
                raise self._error_for(resp.status, dict(resp.getheaders()), body)
            if resp.status != 206 and (start, length) != (0, whole):
                raise errors.BackendUnavailable(f"the server ignored a byte range of {what}")
            sent = resp.getheader("Content-Length") or ""
            if not sent.isdigit():
                raise errors.BackendUnavailable(f"the server sent {what} without its length")
            if int(sent) > length:
                raise errors.BackendUnavailable(f"the server sent more of {what} than asked for")
            if int(sent) < length:
                raise errors.BackendUnavailable(
                    f"the download of {what} stopped early ({sent} of {length} bytes)"
                )
            got = _copy(resp, fd, start, length, tick)
            if got != length:
                raise errors.BackendUnavailable(
                    f"the download of {what} stopped early ({got} of {length} bytes)"
                )
            ok = True
            return length
        except (OSError, http.client.HTTPException) as err:
            raise errors.BackendUnavailable(f"the download of {what} failed: {err}") from None
        finally:
            if ok:
                self._pool.give_back(conn)
            else:
                conn.close()


def _copy(
    resp: http.client.HTTPResponse, fd: int, pos: int, length: int, tick: Callable[[int], None] | None
) -> int:
    """Read ``length`` bytes of ``resp`` into ``fd`` from ``pos``; returns the bytes read (less at a cut)."""
    buf = bytearray(min(BUFFER, length))
    view = memoryview(buf)
    done = 0
    try:
        while done < length:
            want = min(len(buf), length - done)
            n = resp.readinto(view[:want])
            if not n:
                break
            written = 0
            while written < n:
                written += os.pwrite(fd, view[written:n], pos + done + written)
            done += n
            if tick is not None:
                tick(n)
    except http.client.IncompleteRead:
        pass  # counted as "stopped early" by the caller
    finally:
        view.release()
    return done


def ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS context the ``RemoteClient``'s httpx client checks certificates with.

    A CA file as ``ssl.create_default_context(cafile=...)`` (as ``RemoteClient`` builds
    it); True or False through httpx itself, so the same CA bundle is trusted.
    """
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    import httpx

    return httpx.create_ssl_context(verify=verify)


def direct_reader(
    url: str, headers: Mapping[str, str], verify: bool | str, timeout: float, error_for: ErrorFor
) -> RangeReader | None:
    """A :class:`RangeReader` for ``url``, or None when requests to it go through a proxy."""
    if proxied(url):
        return None
    context = ssl_context(verify) if url.startswith("https://") else None
    return RangeReader(url, headers, context=context, timeout=timeout, error_for=error_for)
