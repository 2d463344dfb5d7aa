"""Datums: how a pipeline's inputs split into units of work, and their hashes.

Each pfs input's glob picks entries of its commit (``/`` the whole commit, ``/*`` each
top-level entry, ``/**`` each file...); ``cross`` combines every datum of each input,
``union`` takes all datums of each input, ``join`` pairs datums whose glob capture
groups (``join_on``) are equal (an ``outer_join`` input keeps its unmatched datums),
``group`` makes one datum of all the files of its inputs whose ``group_by`` keys are
equal. A datum's hash covers the transform and, for each of its inputs, the input name,
the path and the content hash (a directory's tree id), so a datum already processed
with the same hash can be skipped and its outputs reused.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

from datavc.errors import InvalidArgument
from datavc.pipelines.glob import Glob, compile_glob, expand_join_key
from datavc.pipelines.spec import Input, PfsInput, PipelineSpec
from storage.model import DIR, Entry
from storage.tree import Trees


@dataclass(frozen=True, slots=True)
class DatumFile:
    """One input of a datum: ``path`` (``""`` for the whole commit) of ``input``'s commit,
    staged under the directory ``mount`` (the input's name unless a union member sets ``dir``)."""

    input: str
    repo: str
    commit: str
    path: str
    entry: Entry
    groups: tuple[str, ...] = ()
    mount: str = ""

    @property
    def dir(self) -> str:
        """The directory under the datum's input root that holds this file."""
        return self.mount or self.input


@dataclass(frozen=True, slots=True)
class Datum:
    files: tuple[DatumFile, ...]
    hash: str

    @property
    def key(self) -> list[list[str]]:
        """``[[input, path, content hash], ...]``: what the datum is, for records and lineage."""
        return [[f.input, "/" + f.path, f.entry.hash] for f in self.files]


def datum_hash(transform_hash: str, files: tuple[DatumFile, ...]) -> str:
    # A union member's `dir` changes where its files are staged, so it is part of the hash
    # (only when set: datums of other inputs keep the hashes they always had).
    doc = [
        transform_hash,
        sorted([f.input, f.path, f.entry.kind, f.entry.hash] + ([f.mount] if f.mount else []) for f in files),
    ]
    return hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()


def _matches(trees: Trees, root: str, pfs: PfsInput, repo: str, commit: str) -> Iterator[DatumFile]:
    glob = compile_glob(pfs.glob)
    if pfs.glob.strip("/") == "":
        yield DatumFile(pfs.name, repo, commit, "", trees.dir_entry("", root), (), pfs.dir or "")
        return
    # Start below the glob's literal prefix, then walk to its depth (or everywhere for **).
    prefix = glob.literal_prefix.split("/") if glob.literal_prefix else []
    if glob.depth is not None and len(prefix) == glob.depth:
        prefix = prefix[:-1]  # the last component is matched below, against its entry
    start_root, start_path = root, ""
    for part in prefix:
        e = trees.lookup(start_root, part)
        if e is None or not e.is_dir:
            return
        start_root, start_path = e.hash, start_path + part + "/"
    if glob.depth is None:
        for path, e in trees.walk(start_root, start_path):
            groups = glob.match(path)
            if groups is not None:
                yield DatumFile(pfs.name, repo, commit, path, e, groups, pfs.dir or "")
        return
    yield from _walk_depth(trees, start_root, start_path, glob.depth - len(prefix), glob, pfs, repo, commit)


def _walk_depth(
    trees: Trees, root: str, prefix: str, remaining: int, glob: Glob, pfs: PfsInput, repo: str, commit: str
) -> Iterator[DatumFile]:
    for e in trees.iter_dir(root):
        path = prefix + e.name
        if remaining == 1:
            groups = glob.match(path, is_dir=e.is_dir)
            if groups is not None:
                yield DatumFile(pfs.name, repo, commit, path, e, groups, pfs.dir or "")
        elif e.kind == DIR:
            yield from _walk_depth(trees, e.hash, path + "/", remaining - 1, glob, pfs, repo, commit)


Commits = dict[str, tuple[str, str, str] | None]
"""Input name → (repo, commit id, tree id) of the commit the job reads, or None (no commit yet)."""


def expand(trees: Trees, node: Input, commits: Commits) -> list[tuple[DatumFile, ...]]:
    """Every datum of ``node`` (as its files, duplicates kept), in the order written."""
    if node.pfs is not None:
        got = commits.get(node.pfs.name)
        if got is None:
            return []
        repo, commit, tree = got
        return [(f,) for f in _matches(trees, tree, node.pfs, repo, commit)]
    if node.cross is not None:
        parts = [expand(trees, child, commits) for child in node.cross]
        return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*parts)]
    if node.union is not None:
        return [d for child in node.union for d in expand(trees, child, commits)]
    if node.group is not None:
        return _group(trees, node.group, commits)
    assert node.join is not None
    keyed = _keyed(trees, node.join, commits, "join_on")
    outer = [c.pfs is not None and c.pfs.outer_join for c in node.join]
    out: list[tuple[DatumFile, ...]] = []
    for key in sorted(set().union(*(set(k) for k in keyed))):
        have = [i for i, k in enumerate(keyed) if key in k]
        # Matched in every input, or kept by an outer input that has it: the datum holds
        # the files of the inputs that have the key (Pachyderm's outer join).
        if len(have) < len(keyed) and not any(outer[i] for i in have):
            continue
        for combo in itertools.product(*(keyed[i][key] for i in have)):
            out.append(tuple(itertools.chain.from_iterable(combo)))
    return out


def _keyed(
    trees: Trees, children: tuple[Input, ...], commits: Commits, field: str
) -> list[dict[str, list[tuple[DatumFile, ...]]]]:
    """For each input of a join or group: its datums by key (``join_on`` or ``group_by``)."""
    keyed: list[dict[str, list[tuple[DatumFile, ...]]]] = []
    for child in children:
        template = getattr(child.pfs, field, None) if child.pfs is not None else None
        if template is None:
            raise InvalidArgument(f"every input of a {field.split('_')[0]} must be a pfs input with {field}")
        groups: dict[str, list[tuple[DatumFile, ...]]] = {}
        for d in expand(trees, child, commits):
            groups.setdefault(expand_join_key(template, d[0].groups), []).append(d)
        keyed.append(groups)
    return keyed


def _group(trees: Trees, children: tuple[Input, ...], commits: Commits) -> list[tuple[DatumFile, ...]]:
    """One datum per ``group_by`` key: every file of every input with that key."""
    keyed = _keyed(trees, children, commits, "group_by")
    return [
        tuple(f for k in keyed for d in k.get(key, ()) for f in d)
        for key in sorted(set().union(*(set(k) for k in keyed)))
    ]


def compute_datums(trees: Trees, spec: PipelineSpec, commits: Commits) -> list[Datum]:
    """Every datum of a job over ``commits``, in a stable order, with duplicates removed."""
    th = spec.transform_hash
    seen: dict[str, Datum] = {}
    for files in expand(trees, spec.input, commits):
        h = datum_hash(th, files)
        if h not in seen:
            seen[h] = Datum(files, h)
    return sorted(seen.values(), key=lambda d: [(f.input, f.path) for f in d.files])
