"""The commit graph of a repo: every parent of every commit (merges have several), merge bases, order.

The graph is read in two queries (commits, and the extra parents of merge commits) and
walked in memory: its cost follows the number of commits, never the size of their trees.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import select

from datavc.context import Context
from datavc.db.models import Commit, CommitParent
from datavc.repos import get_repo

Graph = dict[str, tuple[tuple[str, ...], datetime | None]]


def parent_graph(ctx: Context, repo_name: str) -> Graph:
    """Every finished commit of the repo: (its parents, first first; when it finished). Two queries."""
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        graph: dict[str, tuple[list[str], datetime | None]] = {}
        for cid, parent, at in s.execute(
            select(Commit.id, Commit.parent_id, Commit.finished_at).where(
                Commit.repo_id == repo.id, Commit.state == "finished"
            )
        ):
            graph[cid] = ([parent] if parent else [], at)
        for cid, parent in s.execute(
            select(CommitParent.commit_id, CommitParent.parent_id)
            .join(Commit, Commit.id == CommitParent.commit_id)
            .where(Commit.repo_id == repo.id)
            .order_by(CommitParent.commit_id, CommitParent.position)
        ):
            if cid in graph:
                graph[cid][0].append(parent)
        return {k: (tuple(v[0]), v[1]) for k, v in graph.items()}


def ancestors(graph: Graph, start: Iterable[str]) -> set[str]:
    """``start`` and every commit reachable from it through any parent."""
    seen: set[str] = set()
    todo = deque(start)
    while todo:
        c = todo.popleft()
        if c in seen or c not in graph:
            continue
        seen.add(c)
        todo.extend(graph[c][0])
    return seen


def merge_base(graph: Graph, a: str, b: str) -> str | None:
    """The best common ancestor of ``a`` and ``b``: one no other common ancestor descends from.

    With several (criss-cross merges) the newest is taken, ties broken by id, so the
    answer is deterministic. None when the histories share no commit.
    """
    of_a = ancestors(graph, [a])
    # Walk from b, stopping at the first common commits on each path: the candidates.
    candidates: set[str] = set()
    seen: set[str] = set()
    todo = deque([b])
    while todo:
        c = todo.popleft()
        if c in seen or c not in graph:
            continue
        seen.add(c)
        if c in of_a:
            candidates.add(c)
            continue
        todo.extend(graph[c][0])
    best = [c for c in candidates if not any(c in ancestors(graph, graph[o][0]) for o in candidates - {c})]
    if not best:
        return None
    return max(best, key=lambda c: (_stamp(graph[c][1]), c))


def _stamp(at: datetime | None) -> float:
    return at.timestamp() if at is not None else 0.0


def topo_order(graph: Graph, start: str) -> Iterator[str]:
    """``start`` and its ancestors through every parent, each after all its children, newest first.

    Like ``git log --graph``'s order: a commit is shown only when every commit above it
    that has it as a parent has been shown, so the lanes of a graph never cross back.
    """
    reach = ancestors(graph, [start])
    children: dict[str, int] = dict.fromkeys(reach, 0)
    for c in reach:
        for p in graph[c][0]:
            if p in children:
                children[p] += 1
    ready = [(-_stamp(graph[start][1]), start)]
    while ready:
        _, c = heapq.heappop(ready)
        yield c
        for p in graph[c][0]:
            if p in children:
                children[p] -= 1
                if children[p] == 0:
                    heapq.heappush(ready, (-_stamp(graph[p][1]), p))
