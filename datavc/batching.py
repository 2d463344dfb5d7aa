"""Datum batching, the transform's side: ``for datum in datavc.datums(): ...``.

A pipeline with ``transform.datum_batching: true`` starts its transform once per worker
instead of once per datum (as in Pachyderm 2.x); the transform asks for datums one at a
time. The executor staged the datum's inputs before answering and stores its output
directory after the next request, which also reports how the datum ended: a datum is
a success unless ``datum.fail()`` was called, or the transform exits (or dies) before
asking for the next one. Shell transforms use ``datavc datum next`` (docs/pipelines.md).

Standard library only: it runs inside user code, often in a sandbox, and costs nothing
to import. The channel is a socket the executor passes as file descriptor
``$DATAVC_DATUM_FD``; one JSON line per request and per answer.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

FD_ENV = "DATAVC_DATUM_FD"


class NotBatched(RuntimeError):
    """The transform was not started by a batching executor (no ``$DATAVC_DATUM_FD``)."""


@dataclass(slots=True)
class Datum:
    """One datum handed to a batched transform.

    Attributes:
        id: the datum's hash (also ``$DATAVC_DATUM_ID`` and ``$PACH_DATUM_ID``).
        input_dir: where its inputs are, one directory per input (``$DATAVC_IN``).
        output_dir: where its outputs go (``$DATAVC_OUT``), empty at the start.
        inputs: input name -> its directory.
        env: the variables a per-datum transform would see; ``datums()`` also sets them in
            ``os.environ``, so code that reads ``$DATAVC_IN``/``$DATAVC_OUT`` works unchanged.
    """

    id: str
    input_dir: str
    output_dir: str
    inputs: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    failed: str | None = None

    def fail(self, message: str = "failed") -> None:
        """Mark this datum failed (reported when the next one is asked for, or at the end)."""
        self.failed = message or "failed"


class Channel:
    """The request/answer line channel to the executor (inherited socket)."""

    def __init__(self, fd: int | None = None) -> None:
        if fd is None:
            raw = os.environ.get(FD_ENV, "")
            if not raw.isdigit():
                raise NotBatched(
                    f"${FD_ENV} is not set: run this in a pipeline with transform.datum_batching: true"
                )
            fd = int(raw)
        try:
            self._sock = socket.socket(fileno=os.dup(fd))
        except OSError as err:
            raise NotBatched(f"${FD_ENV}={fd} is not the executor's socket: {err.strerror}") from err
        self._buf = b""

    def next(self, status: str | None, message: str = "") -> Datum | None:
        """Report the previous datum (``"ok"``/``"fail"``, None if none) and get the next, or None."""
        self._sock.sendall(json.dumps({"op": "next", "status": status, "message": message}).encode() + b"\n")
        while b"\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the executor closed the datum channel")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        answer = json.loads(line)
        if answer.get("done"):
            return None
        return Datum(answer["id"], answer["in"], answer["out"], dict(answer["inputs"]), dict(answer["env"]))

    def close(self) -> None:
        self._sock.close()


def datums() -> Iterator[Datum]:
    """The datums of this worker, one at a time, until there are none left.

    Each datum counts as a success when the loop asks for the next one (or ends), unless
    ``datum.fail(message)`` was called; an exception that ends the transform fails the
    datum it was working on.

    Raises:
        NotBatched: not running in a batching pipeline.
    """
    chan = Channel()
    status: str | None = None
    message = ""
    try:
        while True:
            d = chan.next(status, message)
            if d is None:
                return
            for k, v in d.env.items():  # most are the same for every datum: set the others
                if os.environ.get(k) != v:
                    os.environ[k] = v
            yield d
            status, message = ("fail", d.failed) if d.failed is not None else ("ok", "")
    finally:
        chan.close()
