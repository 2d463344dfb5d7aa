"""Reading a ``put`` source from an http(s) URL, streamed (``datavc put URL``, ``put -i urls.txt``).

Only ``http`` and ``https`` are fetched (redirects too: httpx follows no other scheme);
``file://``, ``ftp://``, ``s3://``... are refused before anything is read, so a URL list
cannot make datavc read local files or other services in the user's name. The body is
read in chunks as it is stored, never held whole in memory. A URL that fails (no
connection, a timeout, an HTTP error status) fails the put with one line naming it;
nothing of that put is committed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from datavc.errors import BackendUnavailable, InvalidArgument, NotFound

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
TIMEOUT = 60.0


def url_scheme(src: str) -> str | None:
    """The scheme of ``src`` when it is written as a URL (``scheme://...``), else None."""
    m = _SCHEME_RE.match(src)
    return m.group(1).lower() if m else None


def check_url(src: str) -> str:
    """``src`` if it is an http(s) URL with a host.

    Raises:
        InvalidArgument: another scheme, or no host.
    """
    scheme = url_scheme(src)
    if scheme not in ("http", "https"):
        raise InvalidArgument(f"{src}: only http:// and https:// URLs can be put (got {scheme}://)")
    if not urlsplit(src).hostname:
        raise InvalidArgument(f"{src}: the URL has no host")
    return src


def url_basename(url: str) -> str:
    """The last segment of the URL's path (decoded), the name a file put from it gets.

    Raises:
        InvalidArgument: the path ends with '/' or is empty: give a file path instead.
    """
    name = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    if not name or name in (".", ".."):
        raise InvalidArgument(f"{url}: the URL names no file; put it to a file path: REPO@BRANCH:PATH")
    return name


class _Body(io.RawIOBase):
    """A response body as a readable binary stream."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._left))
        b[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


@contextmanager
def open_url(url: str) -> Iterator[io.BufferedReader]:
    """The body of a GET of ``url`` as a stream; closed on exit.

    Raises:
        InvalidArgument: not an http(s) URL.
        NotFound: HTTP 404 or 410.
        BackendUnavailable: no connection, a timeout, or another error status.
    """
    import httpx

    check_url(url)
    try:
        with (
            httpx.Client(follow_redirects=True, timeout=TIMEOUT) as client,
            client.stream("GET", url) as resp,
        ):
            if resp.status_code in (404, 410):
                raise NotFound(f"{url}: HTTP {resp.status_code} {resp.reason_phrase}")
            if resp.status_code >= 400:
                raise BackendUnavailable(f"{url}: HTTP {resp.status_code} {resp.reason_phrase}")
            yield io.BufferedReader(_Body(resp.iter_bytes(1024 * 1024)), buffer_size=1024 * 1024)
    except httpx.HTTPError as err:
        raise BackendUnavailable(f"{url}: {type(err).__name__}: {err or 'no answer'}") from None
