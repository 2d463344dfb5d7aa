"""ListObjects (V1 and V2) over a repo: keys ``<ref>/<path>`` in S3's order, page by page.

S3 lists keys in byte order, where a directory ``a`` sorts as ``a/``, i.e. after ``a-1``
and ``a.txt``; trees store names in name order, so each directory's entries are
re-ordered on the fly with a small heap of pending directories (only names that start
with a pending directory's name sit in between). Each page seeks to its start with a
bisection per tree page (``Trees.iter_dir_from``) and holds at most ``max-keys`` entries,
so memory stays bounded on a 200,000-key prefix and a page costs O(page), not O(prefix).

A continuation token pins the commit its ref pointed to when the listing started, so the
pages of one listing all come from one commit even while the branch moves.
"""

from __future__ import annotations

import base64
import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import takewhile

from datavc.client import Client
from datavc.errors import NotFound
from datavc.server.s3.xmlio import S3Error
from storage.model import DIR, Entry
from storage.tree import Trees

MAX_KEYS = 1000


@dataclass(frozen=True)
class Item:
    """One listed key: a file (with its entry and commit) or a common prefix (entry None)."""

    key: str
    entry: Entry | None
    commit: str


@dataclass(frozen=True)
class Token:
    """Where a listing stopped: the last key it returned and the commit its ref was pinned to."""

    key: str
    ref: str
    commit: str

    def encode(self) -> str:
        raw = json.dumps({"k": self.key, "r": self.ref, "c": self.commit}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @classmethod
    def decode(cls, text: str) -> Token:
        """Raises S3Error InvalidArgument for anything that is not a token we made."""
        try:
            data = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
            key, ref, commit = data["k"], data["r"], data["c"]
            if not all(isinstance(v, str) for v in (key, ref, commit)) or len(commit) > 64:
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeError):
            raise S3Error("InvalidArgument", "the continuation token is not valid") from None
        return cls(key, ref, commit)


def _sort_key(e: Entry) -> str:
    return e.name + "/" if e.kind == DIR else e.name


def s3_order(entries: Iterator[Entry]) -> Iterator[Entry]:
    """``entries`` (in name order) re-ordered as S3 orders keys: a directory as its name + '/'."""
    pending: list[tuple[str, int, Entry]] = []
    n = 0
    for e in entries:
        key = _sort_key(e)
        while pending and pending[0][0] < key:
            yield heapq.heappop(pending)[2]
        if e.kind == DIR:
            n += 1
            heapq.heappush(pending, (key, n, e))
        else:
            yield e
    while pending:
        yield heapq.heappop(pending)[2]


def _seek_name(component: str) -> str:
    """The least name whose S3 key can follow ``component``: cut before any char sorting below '/'."""
    for i, ch in enumerate(component):
        if ch < "/":
            return component[:i]
    return component


def walk(
    trees: Trees, tree: str, base: str, name_prefix: str, after: str, *, delimited: bool, commit: str
) -> Iterator[Item]:
    """Keys below directory ``tree`` (whose keys start with ``base``), names starting with
    ``name_prefix``, strictly after ``after``, in S3 order (directories rolled up with ``delimited``)."""
    start = name_prefix
    if after.startswith(base):
        comp = after[len(base) :].split("/", 1)[0]
        start = max(start, _seek_name(comp))
    entries = takewhile(lambda e: e.name.startswith(name_prefix), trees.iter_dir_from(tree, start))
    for e in s3_order(entries):
        key = base + _sort_key(e)
        if e.kind != DIR:
            if key > after:
                yield Item(key, e, commit)
        elif delimited:
            if key > after:
                yield Item(key, None, commit)
        elif key > after or after.startswith(key):
            yield from walk(trees, e.hash, key, "", after, delimited=False, commit=commit)


def list_ref(
    c: Client, repo: str, ref: str, commit: str, path_prefix: str, after: str, *, delimited: bool
) -> Iterator[Item]:
    """Keys ``ref/...`` of one commit: ``path_prefix`` is the key prefix after ``ref/``."""
    snap_tree = c.inspect_commit(repo, commit).tree
    trees = c.context.store.trees
    dir_path, _, name_prefix = path_prefix.rpartition("/")
    base = f"{ref}/" + (dir_path + "/" if dir_path else "")
    tree = snap_tree
    if dir_path:
        e = c.context.store.get_entry(snap_tree, dir_path)
        if e is None or e.kind != DIR:
            return
        tree = e.hash
    yield from walk(trees, tree, base, name_prefix, after, delimited=delimited, commit=commit)


def list_keys(
    c: Client, repo: str, prefix: str, after: str, *, delimited: bool, pinned: Token | None
) -> Iterator[tuple[str, Item]]:
    """(ref, item) for every key of ``repo`` after ``after`` starting with ``prefix``.

    Keys whose ref part is incomplete in ``prefix`` range over the repo's branches (tags
    and commits are readable by name but not enumerated).
    """
    ref_part, slash, rest = prefix.partition("/")
    if slash:
        refs = [ref_part]
    else:
        refs = sorted(b.name for b in c.list_branches(repo) if b.name.startswith(ref_part) and b.head)
    for ref in refs:
        ref_key = ref + "/"
        if after >= ref_key and not after.startswith(ref_key):
            continue
        if delimited and not slash:
            if ref_key > after:
                yield ref, Item(ref_key, None, "")
            continue
        if pinned is not None and pinned.ref == ref and pinned.commit:
            commit = pinned.commit
        else:
            try:
                commit = c.inspect_commit(repo, ref).id
            except NotFound:
                if slash:
                    return
                continue
        for item in list_ref(c, repo, ref, commit, rest if slash else "", after, delimited=delimited):
            yield ref, item
