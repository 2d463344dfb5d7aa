"""Content diff: what changed inside each changed file (``diff --content``, ``--stat``).

For text files under a size cap, a unified diff (``difflib``) with the counts of lines
added and removed; for CSV files (by extension), a row/column summary as well: columns
added and removed (by header name), rows added and removed (as a multiset of lines, so
a reordering is no change). Files over the cap, or binary (a NUL byte, or not UTF-8),
get a summary of sizes only: reading them would cost more than a diff is worth.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections import Counter
from collections.abc import Iterator

from datavc.context import Context
from datavc.files import Snapshot, diff_snapshots
from datavc.info import ContentDiffInfo, DiffInfo

#: Files larger than this (on either side) are summarised, not diffed.
DEFAULT_MAX_BYTES = 1 << 20
#: The unified diff of one file is cut after this many lines.
MAX_DIFF_LINES = 2000


def content_diffs(
    ctx: Context, old: Snapshot, new: Snapshot, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[ContentDiffInfo]:
    """For each changed path from ``old`` to ``new``, what changed inside it."""
    for d in diff_snapshots(ctx, old, new):
        yield _one(ctx, old, new, d, max_bytes)


def _read(ctx: Context, snap: Snapshot, path: str, present: bool) -> bytes:
    if not present:
        return b""
    e = ctx.store.get_entry(snap.tree, path.lstrip("/"))
    return ctx.store.read_bytes(e) if e is not None else b""


def _text(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _one(ctx: Context, old: Snapshot, new: Snapshot, d: DiffInfo, max_bytes: int) -> ContentDiffInfo:
    if max((d.old_size or 0), (d.new_size or 0)) > max_bytes:
        return ContentDiffInfo(d.path, d.status, "too-large", d.old_size, d.new_size)
    a_bytes = _read(ctx, old, d.path, d.old_hash is not None)
    b_bytes = _read(ctx, new, d.path, d.new_hash is not None)
    a, b = _text(a_bytes), _text(b_bytes)
    if a is None or b is None:
        return ContentDiffInfo(d.path, d.status, "binary", d.old_size, d.new_size)
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    lines = list(difflib.unified_diff(a_lines, b_lines, f"a{d.path}", f"b{d.path}", n=3))
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    truncated = len(lines) > MAX_DIFF_LINES
    unified = "".join(line if line.endswith("\n") else line + "\n" for line in lines[:MAX_DIFF_LINES])
    if not d.path.lower().endswith(".csv"):
        return ContentDiffInfo(
            d.path, d.status, "text", d.old_size, d.new_size, unified, truncated, added, removed
        )
    old_cols, old_rows = _csv(a)
    new_cols, new_rows = _csv(b)
    rows_added = sum((new_rows - old_rows).values())
    rows_removed = sum((old_rows - new_rows).values())
    return ContentDiffInfo(
        d.path,
        d.status,
        "csv",
        d.old_size,
        d.new_size,
        unified,
        truncated,
        added,
        removed,
        tuple(c for c in new_cols if c not in old_cols),
        tuple(c for c in old_cols if c not in new_cols),
        rows_added,
        rows_removed,
        old_cols != new_cols,
    )


def _csv(text: str) -> tuple[list[str], Counter[tuple[str, ...]]]:
    """(header, rows as a multiset); an unparsable CSV counts as text lines."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        rows = [[line] for line in text.splitlines()]
    if not rows:
        return [], Counter()
    return rows[0], Counter(tuple(r) for r in rows[1:])
