"""``fsck --repair DIR``: rewrite damaged objects from a local copy that holds the right bytes.

An object is content-addressed, so any file whose content hash matches a committed entry
that uses a damaged object carries that object's bytes: a chunk is one slice of the file,
a pack of small files is the concatenation of its files' slices. The commits' trees say
which slices make each damaged object; the files in DIR (hashed only when their size
matches a wanted entry) supply them; an assembled object is written only if it hashes to
its id. Tree objects and objects whose every byte cannot be found are reported, not
guessed.
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from datavc.context import Context, storage_errors
from datavc.db.models import Commit
from datavc.errors import InvalidArgument
from datavc.fsck import fsck
from datavc.info import RepairInfo
from storage.errors import StorageError

_BLOCK = 8 * 1024 * 1024
_CHECKOUT_META = ".datavc-checkout"


@dataclass(frozen=True, slots=True)
class _Slice:
    oid: str  # the damaged object
    offset: int  # where the slice sits in that object
    length: int
    at: int  # where it sits in the file


def repair(ctx: Context, source: str | os.PathLike[str]) -> RepairInfo:
    """Rewrite every damaged (corrupt or missing) object whose bytes files in ``source`` hold.

    Raises:
        InvalidArgument: ``source`` is not a readable directory.
    """
    root = Path(source)
    if not root.is_dir():
        raise InvalidArgument(
            f"{source}: not a directory (give a directory or checkout holding the right files)"
        )
    report = fsck(ctx)
    damaged = set(report.corrupt_objects) | set(report.missing_objects)
    if not damaged:
        return RepairInfo(str(root), (), (), 0)
    with ctx.db.read() as s:
        roots = set(s.scalars(select(Commit.tree)).all())
    wanted = _wanted_slices(ctx, roots, damaged)
    pieces, hashed = _collect(ctx, root, wanted)
    repaired: list[str] = []
    for oid in sorted(damaged):
        data = _assemble(pieces.get(oid, {}))
        if data is not None and ctx.store.algorithm.digest(data) == oid:
            with storage_errors():
                ctx.store.backend.replace(oid, data)
            repaired.append(oid)
    left = tuple(sorted(damaged - set(repaired)))
    return RepairInfo(str(root), tuple(repaired), left, hashed)


def _wanted_slices(ctx: Context, roots: set[str], damaged: set[str]) -> dict[tuple[int, str], list[_Slice]]:
    """(size, content hash) of every committed file that uses a damaged object -> its slices."""
    wanted: dict[tuple[int, str], list[_Slice]] = {}
    seen: set[str] = set()
    stack = [r for r in roots if r not in damaged]
    trees = ctx.store.trees
    while stack:
        tree = stack.pop()
        if tree in seen:
            continue
        seen.add(tree)
        try:
            entries = list(trees.iter_dir(tree))
        except StorageError:
            continue  # a damaged tree page: reported as not repaired
        for e in entries:
            if e.is_dir:
                stack.append(e.hash)
                continue
            key = (e.size, e.hash)
            if key in wanted:
                continue
            at = 0
            slices = []
            try:
                for r in trees.iter_refs(e):
                    if r.oid in damaged:
                        slices.append(_Slice(r.oid, r.offset, r.length, at))
                    at += r.length
            except StorageError:
                continue  # a damaged index object: reported as not repaired

            if slices:
                wanted[key] = slices
    return wanted


def _collect(
    ctx: Context, root: Path, wanted: dict[tuple[int, str], list[_Slice]]
) -> tuple[dict[str, dict[int, bytes]], int]:
    """The wanted slices, read from files under ``root`` (links not followed), and how many were hashed."""
    sizes = {size for size, _ in wanted}
    pieces: dict[str, dict[int, bytes]] = defaultdict(dict)
    hashed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and _CHECKOUT_META in dirnames:
            dirnames.remove(_CHECKOUT_META)
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or st.st_size not in sizes:
                    continue
                h = ctx.store.algorithm.new()
                with open(path, "rb", buffering=0) as f:
                    while block := f.read(_BLOCK):
                        h.update(block)
                    hashed += 1
                    slices = wanted.pop((st.st_size, h.hexdigest()), None)
                    for sl in slices or ():
                        f.seek(sl.at)
                        pieces[sl.oid][sl.offset] = f.read(sl.length)
            except OSError:
                continue  # unreadable: another copy may do
            if not wanted:
                return pieces, hashed
    return pieces, hashed


def _assemble(parts: dict[int, bytes]) -> bytes | None:
    """The object from its slices, or None if a gap is left."""
    out = bytearray()
    for offset in sorted(parts):
        piece = parts[offset]
        if offset > len(out):
            return None
        out[offset : offset + len(piece)] = piece
    return bytes(out) if out else None
