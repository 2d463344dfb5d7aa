"""Content ids: XXH3-128 by default, SHA-256 for stores shared by writers who do not trust each other."""

from __future__ import annotations

from collections.abc import Callable
from typing import NewType, Protocol

import xxhash

ObjectId = NewType("ObjectId", str)
"""The id of a stored object: the hex digest of its bytes under the store's algorithm."""

ContentHash = NewType("ContentHash", str)
"""The hex digest of a file's whole content (which may span many objects)."""


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


def _sha256(data: bytes | memoryview = b"") -> Hasher:
    # hashlib loads OpenSSL: a few milliseconds that a start on an xxh3 store need not pay.
    import hashlib

    return hashlib.sha256(data)


XXH3_128 = "xxh3-128"
SHA256 = "sha256"
ALGORITHMS: dict[str, Callable[[], Hasher]] = {
    XXH3_128: xxhash.xxh3_128,
    SHA256: _sha256,
}
DIGEST_LENGTH = {XXH3_128: 32, SHA256: 64}


class HashAlgorithm:
    """One of :data:`ALGORITHMS`, with fast helpers for whole buffers."""

    __slots__ = ("name", "new", "hex_length", "_oneshot")

    def __init__(self, name: str) -> None:
        if name not in ALGORITHMS:
            known = ", ".join(sorted(ALGORITHMS))
            raise ValueError(f"unknown hash algorithm {name!r} (known: {known})")
        self.name = name
        self.new: Callable[[], Hasher] = ALGORITHMS[name]
        self.hex_length = DIGEST_LENGTH[name]
        self._oneshot: Callable[[bytes | memoryview], str] = (
            xxhash.xxh3_128_hexdigest if name == XXH3_128 else (lambda b: _sha256(b).hexdigest())
        )

    def digest(self, data: bytes | memoryview) -> ObjectId:
        """The id of ``data``."""
        return ObjectId(self._oneshot(data))

    def is_id(self, text: str) -> bool:
        """Whether ``text`` has the shape of an id under this algorithm."""
        if len(text) != self.hex_length:
            return False
        try:
            int(text, 16)
        except ValueError:
            return False
        return text == text.lower()

    def __repr__(self) -> str:
        return f"HashAlgorithm({self.name!r})"
