"""The three-way comparison at path level that merge, revert and cherry-pick share.

Given a base tree and two trees derived from it ("ours", the branch being changed, and
"theirs", the change being brought in), the result is ours plus every change theirs made
since the base, except where both changed one path differently (a conflict). Only the
two diffs from the base are read, and the tree diff skips shared subtrees, so the cost
follows the number of changed paths, never the size of the trees.

Conflicts are either ``content`` (both sides changed or deleted one file differently) or
``file/directory`` (one side has a file where the other put something below it). A
resolution (``ours`` or ``theirs``, by strategy or by a glob over the path) decides
each conflict: ``ours`` keeps the branch's side, ``theirs`` takes the other side's entry
at that path whole.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from datavc.info import MergeConflict
from storage.model import Entry
from storage.tree import Trees
from storage.writer import Writer

Side = Literal["ours", "theirs"]
Resolver = Callable[[str], Side | None]


@dataclass(frozen=True)
class ThreeWay:
    """The outcome of :func:`compare`: the changes to apply to ours, and what could not be decided."""

    deletes: dict[str, None]
    puts: dict[str, Entry]
    conflicts: tuple[MergeConflict, ...]
    resolved: tuple[tuple[str, Side], ...]

    @property
    def changes(self) -> int:
        return len(self.deletes) + len(self.puts)

    def apply(self, w: Writer, ours: str) -> str:
        """The merged tree: deletions first, so a put never meets what the other side removed."""
        tree = w.update_tree(ours, self.deletes) if self.deletes else ours
        return w.update_tree(tree, self.puts) if self.puts else tree


def resolver(
    strategy: Side | None = None, ours_globs: Sequence[str] = (), theirs_globs: Sequence[str] = ()
) -> Resolver:
    """Decide a conflicting path: the first matching ``--ours``/``--theirs`` glob, else ``strategy``.

    Globs match the path without its leading ``/`` (``*`` crosses ``/``, as in fnmatch),
    or any of its parent directories, so ``--theirs 'clean/'`` style patterns such as
    ``clean`` or ``clean/*`` both cover ``clean/a.csv``.
    """

    def matches(globs: Sequence[str], path: str) -> bool:
        candidates = [path]
        parts = path.split("/")
        candidates += ["/".join(parts[:i]) for i in range(1, len(parts))]
        return any(fnmatch.fnmatchcase(c, g.strip("/")) for g in globs for c in candidates)

    def decide(path: str) -> Side | None:
        if matches(ours_globs, path):
            return "ours"
        if matches(theirs_globs, path):
            return "theirs"
        return strategy

    return decide


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _same(a: Entry | None, b: Entry | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.kind, a.hash, a.size) == (b.kind, b.hash, b.size)


def compare(trees: Trees, base: str, ours: str, theirs: str, decide: Resolver) -> ThreeWay:
    """Three-way comparison of ``theirs`` into ``ours`` against ``base`` (tree ids)."""
    ours_changes = {d.path: d.new for d in trees.diff(base, ours)}
    ours_files = {p for p, e in ours_changes.items() if e is not None}
    ours_dirs = {q for p in ours_files for q in _parents(p)}
    deletes: dict[str, None] = {}
    puts: dict[str, Entry] = {}
    conflicts: dict[str, str] = {}  # path -> kind, undecided
    decided: dict[str, Side] = {}
    theirs_changes = [(d.path, d.new) for d in trees.diff(base, theirs)]
    # File/directory clashes first: a path where one side has a file and the other something
    # below it. Every change at or below such a path belongs to that one conflict.
    clashes: set[str] = set()
    for p, theirs_entry in theirs_changes:
        if theirs_entry is not None:
            clashes.update(q for q in _parents(p) if q in ours_files)
            if p in ours_dirs:
                clashes.add(p)
    for p, theirs_entry in theirs_changes:
        clash = [q for q in (*_parents(p), p) if q in clashes]
        if clash:
            key, kind = clash[0], "file/directory"
        elif p in ours_changes:
            if _same(ours_changes[p], theirs_entry):
                continue
            key, kind = p, "content"
        else:
            if theirs_entry is None:
                deletes[p] = None
            else:
                puts[p] = theirs_entry
            continue
        side = decided.get(key) or decide(key)
        if side is None:
            conflicts.setdefault(key, kind)
            continue
        decided[key] = side
        if side == "ours":
            continue
        if kind == "content":
            if theirs_entry is None:
                deletes[p] = None
            else:
                puts[p] = theirs_entry
        else:
            # Theirs wins the whole path: whatever ours has there goes, theirs' entry comes.
            deletes[key] = None
            whole = trees.get(theirs, key)
            if whole is not None:
                puts[key] = whole
    # A put of a whole path replaces the single changes below it.
    for key, side in decided.items():
        if side == "theirs" and key in puts and puts[key].is_dir:
            prefix = key + "/"
            for p in [p for p in puts if p.startswith(prefix)]:
                del puts[p]
    report = tuple(
        _conflict(trees, path, kind, base, ours, theirs) for path, kind in sorted(conflicts.items())
    )
    return ThreeWay(deletes, puts, report, tuple(sorted(decided.items())))


def _conflict(trees: Trees, path: str, kind: str, base: str, ours: str, theirs: str) -> MergeConflict:
    b, o, t = (trees.get(root, path) for root in (base, ours, theirs))
    return MergeConflict(
        "/" + path,
        kind,
        b.size if b else None,
        b.hash if b else None,
        o.size if o else None,
        o.hash if o else None,
        t.size if t else None,
        t.hash if t else None,
    )


def describe(conflicts: Sequence[MergeConflict], limit: int = 20) -> str:
    """One line naming the conflicting paths with both sides' sizes and short hashes."""

    def side(size: int | None, h: str | None) -> str:
        return "absent" if h is None else f"{size} B {h[:12]}"

    parts = [
        f"{c.path} ({c.kind}: ours {side(c.ours_size, c.ours_hash)}, "
        f"theirs {side(c.theirs_size, c.theirs_hash)})"
        for c in conflicts[:limit]
    ]
    extra = len(conflicts) - limit
    more = f"; and {extra} more (use --dry-run --json for all)" if extra > 0 else ""
    return "; ".join(parts) + more
