"""File history: the commits that changed one path, newest first (``log REPO@REF:PATH``).

The walk follows first parents, as ``log`` does. At each commit the entry at the path is
looked up in its tree and in its parent's (a few tree pages each, O(log n)), so the cost
is the history length times log n, never the size of the trees. An entry's hash is its
content hash (a file) or its tree id (a directory), so a directory's history lists the
commits that changed anything below it.

``follow``: where the path first appears by a ``cp`` (which records ``copied_from`` and
``copied_to`` in the new commit's metadata), the walk goes on with the source path from
the commit it was copied from, within the same repo.
"""

from __future__ import annotations

from collections.abc import Iterator

from datavc.commits import commit_info
from datavc.context import Context
from datavc.db.models import Commit
from datavc.errors import InvalidArgument
from datavc.info import CommitInfo
from datavc.names import parse_address
from datavc.refs import get_commit, resolve
from datavc.repos import get_repo
from storage.model import Entry


def file_log(
    ctx: Context, repo_name: str, ref: str, path: str, *, follow: bool = False, limit: int | None = None
) -> Iterator[CommitInfo]:
    """Commits from ``ref`` back (first parents) whose entry at ``path`` differs from their parent's."""
    trees = ctx.store.trees
    with ctx.db.read() as s:
        repo = get_repo(s, repo_name)
        c: Commit | None = resolve(s, repo, ref)
        count = 0
        while c is not None and path and (limit is None or count < limit):
            parent = get_commit(s, repo, c.parent_id) if c.parent_id else None
            here = trees.get(c.tree, path)
            before = trees.get(parent.tree, path) if parent is not None else None
            if _key(here) != _key(before):
                info = commit_info(s, repo, c)
                yield info
                count += 1
                if before is None and follow:
                    source = _copied_from(info, path, repo_name)
                    if source is not None:
                        src_commit, path = source
                        c = get_commit(s, repo, src_commit) if src_commit else None
                        continue
            c = parent


def _key(e: Entry | None) -> tuple[str, int, str] | None:
    return None if e is None else (e.kind, e.size, e.hash)


def _copied_from(info: CommitInfo, path: str, repo_name: str) -> tuple[str, str] | None:
    """(source commit, source path) if ``path`` came into being by a copy recorded in ``info``."""
    src, dst = info.metadata.get("copied_from"), info.metadata.get("copied_to")
    if not src or not dst:
        return None
    dst = dst.strip("/")
    if path != dst and not path.startswith(dst + "/"):
        return None
    try:
        addr = parse_address(src)
    except InvalidArgument:
        return None
    if addr.repo != repo_name or addr.ref is None or addr.path is None:
        return None
    return addr.ref, (addr.path.strip("/") + path[len(dst) :]).strip("/")
