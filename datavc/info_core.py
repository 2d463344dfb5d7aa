"""The values a light read returns (``ls``, ``status``) and the base of every ``...Info``.

They are re-exported by :mod:`datavc.info`, where the other values live. They sit apart
because building a frozen, slotted dataclass costs about 1.5 ms at import: the two dozen
in :mod:`datavc.info` cost more than a whole listing, which starts on a budget of 0.15 s.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple


def _jsonable(value: Any) -> Any:
    if isinstance(value, _Info):
        return value.to_json()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class _Info:
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 strings)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


class FileInfo(NamedTuple):
    """One path of a commit (an immutable tuple: listings make millions of them)."""

    repo: str
    commit: str
    path: str
    kind: str  # file | dir
    size: int
    hash: str  # content hash for a file, tree id for a directory
    file_count: int  # 1 for a file, files below for a directory

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(frozen=True, slots=True)
class DiffInfo(_Info):
    path: str
    status: str  # added | deleted | modified
    old_size: int | None
    new_size: int | None
    old_hash: str | None
    new_hash: str | None


@dataclass(frozen=True, slots=True)
class StatusInfo(_Info):
    dir: str
    repo: str
    branch: str | None
    commit: str
    changes: tuple[DiffInfo, ...]  # status added | modified | deleted; sizes of the local files
    #: set while a checkout into the directory is interrupted (the commit and ref it was bringing)
    pending_commit: str | None = None
    pending_ref: str | None = None

    @property
    def incomplete(self) -> bool:
        return self.pending_commit is not None

    @property
    def clean(self) -> bool:
        return not self.changes and self.pending_commit is None
