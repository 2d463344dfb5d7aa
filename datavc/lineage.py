"""Lineage: where a commit came from (provenance, upstream) and what was derived from it
(subvenance, downstream); for one output file, the datum and the input files that made it.
Rendered as text, JSON, Graphviz DOT or Mermaid."""

from __future__ import annotations

import json
from collections import deque
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from datavc.context import Context
from datavc.db.models import Commit, Datum, Job, Pipeline, Provenance, Repo
from datavc.errors import InvalidArgument, PathNotFound
from datavc.info import LineageInfo, LineageNode
from datavc.names import check_path
from datavc.refs import resolve
from datavc.repos import get_repo

Direction = Literal["upstream", "downstream"]


def _node(s: Session, c: Commit) -> LineageNode:
    repo = s.scalar(select(Repo.name).where(Repo.id == c.repo_id)) or "?"
    pipeline = None
    if c.job_id is not None:
        pipeline = s.scalar(
            select(Pipeline.name).join(Job, Job.pipeline_id == Pipeline.id).where(Job.id == c.job_id)
        )
    return LineageNode(repo, c.id, c.origin, pipeline, c.job_id, c.commit_set_id)


def lineage(
    ctx: Context, repo: str, ref: str, path: str | None = None, direction: Direction = "upstream"
) -> LineageInfo:
    """The provenance (``upstream``) or subvenance (``downstream``) graph of ``repo@ref``.

    With ``path`` (upstream only), also the datum that wrote that file and its input files.
    """
    with ctx.db.read() as s:
        start = resolve(s, get_repo(s, repo), ref)
        root = _node(s, start)
        nodes: dict[str, LineageNode] = {start.id: root}
        edges: list[tuple[str, str]] = []
        queue = deque([start.id])
        while queue:
            cid = queue.popleft()
            if direction == "upstream":
                q = select(Provenance.input_commit_id).where(Provenance.commit_id == cid)
            else:
                q = select(Provenance.commit_id).where(Provenance.input_commit_id == cid)
            for other in s.scalars(q).all():
                edges.append((cid, other) if direction == "upstream" else (other, cid))
                if other not in nodes:
                    c = s.get(Commit, other)
                    if c is not None:
                        nodes[other] = _node(s, c)
                        queue.append(other)
        datum_id: str | None = None
        sources: tuple[tuple[str, str, str], ...] = ()
        norm: str | None = None
        if path is not None:
            if direction != "upstream":
                raise InvalidArgument("the lineage of a file is upstream only: drop --downstream or the path")
            norm = check_path(path)
            if not norm:
                raise InvalidArgument("lineage of a path needs a file path, not the root")
            if ctx.store.get_entry(start.tree, norm) is None:
                raise PathNotFound(norm, f"{repo}@{ref}:/{norm} not found")
            if start.job_id is not None:
                rows = s.execute(
                    select(Datum.datum_hash, Datum.output_tree, Datum.key).where(Datum.job_id == start.job_id)
                ).all()
                for dh, tree, key in rows:
                    if tree is not None and ctx.store.get_entry(tree, norm) is not None:
                        datum_id = dh
                        sources = tuple(tuple(x) for x in json.loads(key))
                        break
    return LineageInfo(root, direction, tuple(nodes.values()), tuple(edges), norm, datum_id, sources)


def _label(n: LineageNode) -> str:
    how = f"pipeline {n.pipeline}" if n.pipeline else n.origin
    return f"{n.repo}@{n.commit[:12]} ({how})"


def render(info: LineageInfo, fmt: Literal["text", "json", "dot", "mermaid"]) -> str:
    """The graph as text (an indented tree), JSON, Graphviz DOT or Mermaid."""
    if fmt == "json":
        return json.dumps(info.to_json(), indent=2)
    by_id = {n.commit: n for n in info.nodes}
    if fmt == "dot":
        lines = ["digraph lineage {", "  rankdir=LR;", "  node [shape=box];"]
        for n in info.nodes:
            lines.append(f'  "{n.commit}" [label="{_label(n)}"];')
        for derived, source in info.edges:
            lines.append(f'  "{source}" -> "{derived}";')
        lines.append("}")
        return "\n".join(lines)
    if fmt == "mermaid":
        lines = ["graph LR"]
        for n in info.nodes:
            lines.append(f'  c{n.commit[:12]}["{_label(n)}"]')
        for derived, source in info.edges:
            lines.append(f"  c{source[:12]} --> c{derived[:12]}")
        return "\n".join(lines)
    # text: an indented tree from the root
    children: dict[str, list[str]] = {}
    for derived, source in info.edges:
        a, b = (derived, source) if info.direction == "upstream" else (source, derived)
        children.setdefault(a, []).append(b)
    out: list[str] = []

    def walk(cid: str, depth: int, seen: frozenset[str]) -> None:
        out.append(
            "  " * depth
            + ("<- " if depth and info.direction == "upstream" else "-> " if depth else "")
            + _label(by_id[cid])
        )
        for child in sorted(children.get(cid, [])):
            if child not in seen:
                walk(child, depth + 1, seen | {child})

    walk(info.root.commit, 0, frozenset({info.root.commit}))
    if info.path is not None:
        if info.datum is None:
            out.append(f"/{info.path}: not written by a pipeline datum")
        else:
            out.append(f"/{info.path} was written by datum {info.datum[:12]} from:")
            out.extend(f"  {name}:{path} ({h[:12]})" for name, path, h in info.sources)
    if info.root.commit_set is not None:
        out.append(f"commit set {info.root.commit_set} (datavc commit-set inspect)")
    return "\n".join(out)
