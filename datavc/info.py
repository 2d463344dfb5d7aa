"""Frozen values the API returns: never ORM rows, never sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, NamedTuple, TypedDict


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


@dataclass(frozen=True, slots=True)
class RepoInfo(_Info):
    name: str
    description: str
    created_at: datetime
    created_by: str
    branches: tuple[str, ...]
    size: int  # bytes in the default branch's head
    file_count: int
    commit_count: int
    open_commits: tuple[str, ...] = ()  # ids of unfinished commits (a killed put leaves one)


@dataclass(frozen=True, slots=True)
class BranchInfo(_Info):
    repo: str
    name: str
    head: str | None
    created_at: datetime
    protection: str = ""  # "" | merge (moves only by merge) | strict (also no delete or reset)


@dataclass(frozen=True, slots=True)
class TagInfo(_Info):
    repo: str
    name: str
    commit: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class CommitInfo(_Info):
    repo: str
    id: str
    parent: str | None
    branch: str | None
    state: str  # open | finished
    origin: str  # user | pipeline | rollback
    message: str
    author: str
    created_at: datetime
    finished_at: datetime | None
    size: int
    file_count: int
    tree: str
    provenance: tuple[str, ...] = ()  # "repo@commit" of the commits it was derived from
    job: str | None = None  # the pipeline job that made it
    parents: tuple[str, ...] = ()  # every parent, first parent first (two or more: a merge commit)
    metadata: dict[str, str] = field(default_factory=dict)  # the user's key=value pairs (``-M``)
    commit_set: str | None = None  # the commit set it belongs to (see docs/pipelines.md)


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
class ContentDiffInfo(_Info):
    """What changed inside one changed file (``diff --content``).

    ``kind``: ``text`` (a unified diff), ``csv`` (also columns and rows added and removed;
    rows compared as a multiset), ``binary`` or ``too-large`` (sizes only).
    """

    path: str
    status: str  # added | deleted | modified
    kind: str
    old_size: int | None
    new_size: int | None
    unified: str = ""
    truncated: bool = False  # the unified diff was cut (datavc.content_diff.MAX_DIFF_LINES)
    lines_added: int = 0
    lines_removed: int = 0
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    rows_added: int = 0
    rows_removed: int = 0
    header_changed: bool = False


@dataclass(frozen=True, slots=True)
class ReflogEntry(_Info):
    repo: str
    branch: str
    old: str | None
    new: str | None
    who: str
    why: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CheckoutInfo(_Info):
    repo: str
    ref: str
    commit: str
    branch: str | None  # set when checked out from a branch (then `commit` can commit back)
    dir: str
    files_written: int
    files_deleted: int
    files_unchanged: int


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


@dataclass(frozen=True, slots=True)
class FsckInfo(_Info):
    objects_checked: int
    bytes_checked: int
    commits_checked: int
    corrupt_objects: tuple[str, ...]
    missing_objects: tuple[str, ...]
    metadata_problems: tuple[str, ...]
    #: trees whose content is invalid (a bad name, size, reference, or a path over the limits)
    bad_trees: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.corrupt_objects or self.missing_objects or self.metadata_problems or self.bad_trees)


@dataclass(frozen=True, slots=True)
class GcInfo(_Info):
    dry_run: bool
    objects_total: int
    objects_reachable: int
    objects_deleted: int
    bytes_deleted: int
    objects_kept_grace: int
    open_commits_expired: int = 0  # abandoned open commits aborted (or, dry run, that would be)
    uploads_swept: int = 0  # abandoned S3 multipart uploads deleted (or, dry run, that would be)


@dataclass(frozen=True, slots=True)
class PipelineInfo(_Info):
    name: str
    description: str
    version: int
    state: str  # running | stopped
    spec: dict[str, Any]
    spec_hash: str
    inputs: tuple[str, ...]  # "repo@branch"
    output_repo: str
    created_at: datetime
    updated_at: datetime
    last_job: str | None
    last_job_state: str | None
    reason: str = ""  # why datavc stopped it (its input or output repo was deleted)


@dataclass(frozen=True, slots=True)
class JobInfo(_Info):
    id: str
    pipeline: str
    pipeline_version: int
    state: str  # created | running | success | failure | killed
    trigger_commit: str | None
    inputs: dict[str, str | None]  # input name -> commit id
    output_commit: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    message: str
    datums_total: int
    datums_processed: int
    datums_skipped: int
    datums_failed: int
    commit_set: str | None = None  # the commit set it runs for

    @property
    def done(self) -> bool:
        return self.state in ("success", "failure", "killed")


@dataclass(frozen=True, slots=True)
class CommitSetMember(_Info):
    """One head move of a commit set: ``repo@branch`` moved to ``commit``."""

    repo: str
    branch: str
    commit: str
    origin: str  # user | pipeline | rollback (of the commit)
    job: str | None  # the job that made it, for pipeline outputs


@dataclass(frozen=True, slots=True)
class CommitSetInfo(_Info):
    """A commit set: what started it, its commits and its jobs (see docs/pipelines.md)."""

    id: str
    origin: str
    created_by: str
    created_at: datetime
    commits: tuple[CommitSetMember, ...]
    jobs: tuple[JobInfo, ...]

    @property
    def done(self) -> bool:
        return all(j.done for j in self.jobs)


@dataclass(frozen=True, slots=True)
class InlineOutcome(_Info):
    """What became of the jobs a command triggered (see datavc/pipelines/inline.py)."""

    mode: str  # inline: they ran here | daemon: a running daemon runs them | queued | server
    jobs: tuple[str, ...]  # the job ids run (inline) or waiting (daemon, queued)


@dataclass(frozen=True, slots=True)
class DatumInfo(_Info):
    job: str
    id: str  # the datum's hash
    inputs: tuple[tuple[str, str, str], ...]  # (input name, path, content hash)
    state: str  # pending | running | success | failed | skipped
    tries: int
    exit_code: int | None
    duration: float | None
    output_tree: str | None


@dataclass(frozen=True, slots=True)
class LineageNode(_Info):
    repo: str
    commit: str
    origin: str
    pipeline: str | None  # the pipeline that made it, for outputs
    job: str | None
    commit_set: str | None = None  # the commit set it belongs to


@dataclass(frozen=True, slots=True)
class LineageInfo(_Info):
    root: LineageNode
    direction: str  # upstream | downstream
    nodes: tuple[LineageNode, ...]
    edges: tuple[tuple[str, str], ...]  # (derived commit, input commit)
    path: str | None = None  # with a path: the file's datum and the input files it came from
    datum: str | None = None
    sources: tuple[tuple[str, str, str], ...] = ()  # (input name, path, content hash)


@dataclass(frozen=True, slots=True)
class OpenCommitInfo(_Info):
    """An open (unfinished) commit and when it expires (``open_commit_max_age`` after it started)."""

    commit: CommitInfo
    expires_at: datetime
    expired: bool


@dataclass(frozen=True, slots=True)
class RepairInfo(_Info):
    """What ``fsck --repair DIR`` rewrote from the files in ``source``."""

    source: str
    repaired: tuple[str, ...]  # damaged objects rewritten (each verified against its id)
    not_repaired: tuple[str, ...]  # damaged objects no file in ``source`` holds the bytes of
    files_hashed: int


@dataclass(frozen=True, slots=True)
class MergeConflict(_Info):
    """One path a merge (revert, cherry-pick) cannot decide: both sides changed it differently.

    ``kind`` is ``content`` (both changed or deleted the file differently) or
    ``file/directory`` (one side has a file where the other has a directory). Sizes and
    hashes are None where that side has nothing at the path; a directory's hash is its tree id.
    """

    path: str
    kind: str
    base_size: int | None
    base_hash: str | None
    ours_size: int | None
    ours_hash: str | None
    theirs_size: int | None
    theirs_hash: str | None



class Resolution(TypedDict, total=False):
    """The options a merge, cherry-pick and revert share, as keyword arguments of
    ``Client.merge``/``cherry_pick``/``revert`` (direct and remote alike).

    ``strategy`` decides every conflict for one side; ``ours``/``theirs`` are path globs
    decided for that side; ``dry_run`` writes nothing and returns what would happen;
    ``message`` and ``metadata`` go on the commit it makes.
    """

    strategy: Literal["ours", "theirs"] | None
    ours: Sequence[str]
    theirs: Sequence[str]
    dry_run: bool
    message: str | None
    metadata: Mapping[str, str] | None

@dataclass(frozen=True, slots=True)
class MergeInfo(_Info):
    """What a merge, revert or cherry-pick did (or, ``dry_run``, would do).

    ``result``: ``up-to-date`` (nothing to bring over), ``fast-forward`` (the branch moved
    to the source commit), ``merged`` (a new commit), or ``conflict`` (a dry run that
    would refuse). ``changes`` counts the paths taken from the other side; ``resolved``
    lists the conflicting paths a strategy or glob decided, with the side that won.
    """

    repo: str
    operation: str  # merge | revert | cherry-pick
    source: str  # the commit brought in (merge, cherry-pick) or undone (revert)
    branch: str
    result: str
    base: str | None  # the merge base (the commit the three-way comparison starts from)
    head: str | None  # the branch head the result is built on
    commit: CommitInfo | None  # the new head (merged / fast-forward), None otherwise
    changes: int
    conflicts: tuple[MergeConflict, ...] = ()
    resolved: tuple[tuple[str, str], ...] = ()  # (path, "ours" | "theirs")
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class HookInfo(_Info):
    """A hook of ``event`` (pre-commit | pre-merge | post-commit | post-merge) on branches ``branches``."""

    repo: str
    name: str
    event: str
    branches: str  # a glob over branch names
    cmd: tuple[str, ...]
    url: str | None  # post-hooks: a webhook instead of a command
    image: str | None
    timeout: float
    env: dict[str, str]
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class HookResultInfo(_Info):
    """What one hook said about the commit it judged (pre-hooks) or heard about (post-hooks)."""

    commit: str
    hook: str
    event: str
    passed: bool
    exit_code: int | None  # -9: killed at its timeout; 127: could not start
    log: str  # the end of its output
    duration: float
    at: datetime
