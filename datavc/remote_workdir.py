"""Working copies through a datavc server: ``checkout``, ``status`` and ``commit`` with ``DATAVC_SERVER``.

The checkout directory is the one :mod:`datavc.workdir` keeps (``.datavc-checkout/``
with ``state.json`` and the index), so the two behave the same and share its rules:
a checkout with local changes is refused unless forced, a commit to a branch that moved
is refused unless ``rebase``, an interrupted checkout is journaled and finished by the
next one, links are never followed. What differs is where the data comes from:

- **checkout** reads the tree through the API: the diff between the checked-out commit
  and the target (or the target's listing for a new checkout), then the files to write
  as one batch stream (:mod:`datavc.batch`) when there are many, or one GET each when
  there are few. Every file's bytes are hashed as they arrive and must match the hash
  the listing gave, or the checkout stops (Integrity): nothing read from the network
  goes into the index unchecked.
- **status** is local: the index and the directory walk. The store's hash algorithm
  (for files whose mtime changed) is told by the length of the checked-out tree's id.
- **commit** uploads the changed files with the remote put (one batch stream, large
  files beside it, :mod:`datavc.transfer`) and deletes the removed ones, all in one open
  commit finished at the end (aborted if anything fails). The server computes every
  object id; the index takes each file's hash from the server's answer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from datavc import batch, errors, transfer
from datavc.export import Exporter
from datavc.info import CheckoutInfo, CommitInfo, StatusInfo
from datavc.workdir import (
    _INDEX_COMMIT_EVERY,
    META,
    Skipped,
    _Checkout,
    _holds,
    _index_put,
    _local_errors,
    _Pending,
    _remove,
    _State,
    existing_checkout,
    journal_rebase,
    local_status,
    moved_since_checkout,
    prepare_commit,
    record_committed,
    sources_of,
)
from storage.hashing import DIGEST_LENGTH, HashAlgorithm

#: A :class:`datavc.remote.RemoteClient`. Not imported, even for type checking: that
#: module imports this one, and sibling modules stay acyclic (import-linter).
RemoteClient = Any

Progress = Callable[[int], None]
#: More files than this to write are fetched as one batch stream of the whole tree
#: (files not needed are skipped as they pass); fewer, one GET each.
BATCH_FROM = 32
#: More changed files than this get their committed hashes from one listing, not one stat each.
LIST_FROM = 64


def algorithm_of(tree: str) -> HashAlgorithm:
    """The store's hash algorithm, told by the length of one of its ids (a tree id)."""
    for name, length in DIGEST_LENGTH.items():
        if len(tree) == length:
            return HashAlgorithm(name)
    raise errors.InvalidArgument(f"the server named a tree {tree[:80]!r} that is no known kind of id")


def _rel(path: str) -> str:
    return path.strip("/")


# ----- checkout ----------------------------------------------------------------------


def checkout(
    rc: RemoteClient,
    repo: str,
    ref: str,
    dest: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> CheckoutInfo:
    """``repo@ref`` into ``dest`` through the server; as :func:`datavc.workdir.checkout`.

    Raises:
        NotFound: no such repo or ref; Conflict: local changes (unless ``force``);
        InvalidArgument: ``dest`` is a non-empty directory that is not a checkout;
        Integrity: the server sent bytes that do not match their hash.
    """
    target = rc.inspect_commit(repo, ref)
    branch = ref if any(b.name == ref for b in rc.list_branches(repo)) else None
    alg = algorithm_of(target.tree)
    root = Path(dest).absolute()
    co = _Checkout(root)
    try:
        old = existing_checkout(co, repo, force, alg)
        if old is not None:
            sources = sources_of(old)
        else:
            with _local_errors(co, ""):
                root.mkdir(parents=True, exist_ok=True)
            old = _State(rc.url, repo, None, "", "")
            sources = []
        co.clean_tmp()
        pending = _Pending(ref, branch, target.id, target.tree, [s for s in dict.fromkeys(sources) if s])
        co.save(_State(old.home, repo, old.branch, old.commit, old.tree, pending))
        if old.pending is None and old.commit:
            diffs = list(rc.diff(repo, old.commit, target.id))
            wanted = {
                _rel(d.path): (d.new_size or 0, d.new_hash or "") for d in diffs if d.status != "deleted"
            }
            gone = [_rel(d.path) for d in diffs if d.status == "deleted"]
        else:
            # A new checkout, or one to finish: every file of the target is checked or written.
            listing = [f for f in rc.list_files(repo, target.id, "/", recursive=True) if f.kind == "file"]
            wanted = {_rel(f.path): (f.size, f.hash) for f in listing}
            if old.pending is not None:
                wanted = {p: sh for p, sh in wanted.items() if not _holds(alg, co, p, sh[0], sh[1])}
            indexed = [r[0] for r in co.db.execute("SELECT path FROM files")]
            keep = {_rel(f.path) for f in listing}
            gone = [p for p in indexed if p not in keep]
        deleted = sum(_remove(co, p) for p in gone)
        written = _fetch(rc, repo, target.id, co, wanted, alg, progress)
        co.db.commit()
        co.save(_State(rc.url, repo, branch, target.id, target.tree))
        total = co.db.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        co.close()
    return CheckoutInfo(repo, ref, target.id, branch, str(root), written, deleted, total - written)


def _fetch(
    rc: RemoteClient,
    repo: str,
    commit: str,
    co: _Checkout,
    wanted: Mapping[str, tuple[int, str]],
    alg: HashAlgorithm,
    progress: Progress | None,
) -> int:
    """Write the ``wanted`` files (path -> size, hash) of ``commit`` into the checkout; returns how many."""
    if not wanted:
        return 0
    out = Exporter(None, co.root, reserved=(META,), tmp_dir=co.tmp)
    written = 0

    def write(rel: str, pieces: Iterable[bytes]) -> None:
        nonlocal written
        size, want = wanted[rel]
        with _local_errors(co, rel):
            st = out.write_stream(
                rel, _checked(pieces, alg, want, f"{repo}@{commit[:12]}:/{rel}"), replace_dir=True
            )
        _index_put(co, rel, want, st)
        written += 1
        if written % _INDEX_COMMIT_EVERY == 0:
            co.db.commit()  # a crash then re-hashes fewer files
        if progress is not None:
            progress(size)

    if len(wanted) < BATCH_FROM:
        for rel in sorted(wanted):
            write(rel, rc.iter_file(repo, commit, rel))
        return written
    stream = batch.piece_reader(rc.iter_batch(repo, commit, "/"))
    for rel, _size, content in batch.members(stream):
        if rel in wanted:
            write(rel, iter(lambda c=content: c.read(batch.PIECE), b""))  # type: ignore[misc]
    if written != len(wanted):
        missing = sorted(set(wanted) - _written_paths(co, wanted))
        raise errors.Integrity(
            f"the server's batch of {repo}@{commit[:12]} lacked /{missing[0]} (and {len(missing) - 1} more)"
        )
    return written


def _written_paths(co: _Checkout, wanted: Mapping[str, tuple[int, str]]) -> set[str]:
    rows = co.db.execute("SELECT path, hash FROM files")
    return {p for p, h in rows if p in wanted and wanted[p][1] == h}


def _checked(pieces: Iterable[bytes], alg: HashAlgorithm, want: str, what: str) -> Iterator[bytes]:
    """``pieces`` passed through; at their end, their hash must be ``want`` (else Integrity)."""
    h = alg.new()
    for piece in pieces:
        h.update(piece)
        yield piece
    if h.hexdigest() != want:
        raise errors.Integrity(
            f"{what}: the server sent content whose hash is not the one it listed; not written"
        )


# ----- status ------------------------------------------------------------------------


def status(dest: str | os.PathLike[str] = ".", *, on_skip: Skipped | None = None) -> StatusInfo:
    """Local changes of a checkout: as :func:`datavc.workdir.status`, with no request at all."""
    return local_status(dest, algorithm_of, on_skip)


# ----- commit ------------------------------------------------------------------------


def commit_workdir(
    rc: RemoteClient,
    dest: str | os.PathLike[str] = ".",
    message: str = "",
    *,
    rebase: bool = False,
    on_skip: Skipped | None = None,
    metadata: Mapping[str, str] | None = None,
) -> CommitInfo:
    """Commit a checkout's changes through the server; as :func:`datavc.workdir.commit_workdir`.

    Raises:
        InvalidArgument: not a checkout, checked out from a commit, or nothing to commit;
        Conflict: a checkout into it was interrupted and is not finished;
        BranchMoved: the branch moved since the checkout (unless ``rebase``).
    """
    co = _Checkout.find(Path(dest).absolute())
    try:

        def head_of(repo: str, branch: str) -> str:
            return rc.inspect_branch(repo, branch).head or ""

        st, head, pending = prepare_commit(co, head_of, rebase, algorithm_of, on_skip)
        assert st.branch is not None
        alg = algorithm_of(st.tree)
        found = [(str(co.root / rel), rel, s.st_size) for rel, kind, s in pending if s is not None]
        stats = {rel: s for rel, _, s in pending if s is not None}
        gone = [rel for rel, kind, _ in pending if kind == "deleted"]
        msg = message or f"commit {len(pending)} changes from {co.root.name}"
        cid = rc.start_commit(st.repo, st.branch, msg, metadata=metadata).id
        try:
            opened = rc.inspect_commit(st.repo, cid)
            if opened.parent != st.commit and not rebase:
                raise moved_since_checkout(st, opened.parent or "")
            if found:
                transfer.put_files(rc, st.repo, st.branch, "", found, msg, cid, None)
            if gone:
                rc.delete_file(st.repo, st.branch, gone, commit=cid)
            info: CommitInfo = rc.finish_commit(st.repo, cid)
        except BaseException:
            with contextlib.suppress(errors.DatavcError):
                rc.abort_commit(st.repo, cid)
            raise
        hashes = _committed_hashes(rc, st.repo, info.id, [rel for _, rel, _ in found])
        record_committed(co, {**dict.fromkeys(gone), **hashes}, stats)
        if rebase and head != st.commit:
            # Bring the other writers' changes into the checkout too, journaled like a checkout.
            journal_rebase(co, st, info)
            mine = {rel for rel, _, _ in pending}
            theirs = [d for d in rc.diff(st.repo, st.commit, head) if _rel(d.path) not in mine]
            for d in theirs:
                if d.status == "deleted":
                    _remove(co, _rel(d.path))
            wanted = {
                _rel(d.path): (d.new_size or 0, d.new_hash or "") for d in theirs if d.status != "deleted"
            }
            _fetch(rc, st.repo, info.id, co, wanted, alg, None)
            co.db.commit()
        co.save(_State(st.home, st.repo, st.branch, info.id, info.tree))
        return info
    finally:
        co.close()


def _committed_hashes(rc: RemoteClient, repo: str, commit: str, rels: list[str]) -> dict[str, str]:
    """The content hash the server committed for each of ``rels`` (what the index records)."""
    if len(rels) <= LIST_FROM:
        return {rel: rc.inspect_file(repo, commit, rel).hash for rel in rels}
    want = set(rels)
    listing = rc.list_files(repo, commit, "/", recursive=True)
    return {_rel(f.path): f.hash for f in listing if _rel(f.path) in want}
