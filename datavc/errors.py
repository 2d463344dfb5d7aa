"""One exception hierarchy for datavc, each category with its CLI exit code.

| category | exit code |
|---|---|
| InvalidArgument | 2 |
| NotFound | 3 |
| AlreadyExists | 4 |
| Conflict | 5 |
| Integrity | 6 |
| BackendUnavailable | 7 |
| PipelineFailed | 8 |
| Unauthenticated | 9 |
| Forbidden | 10 |

Exit code 1 is left for bugs (an unexpected exception) and 130 for Ctrl-C.
"""

from __future__ import annotations


class DatavcError(Exception):
    """Root of every error datavc raises on purpose."""

    exit_code = 1
    category = "error"


class InvalidArgument(DatavcError):
    """A bad name, path, ref, option or spec."""

    exit_code = 2
    category = "invalid argument"


class NotFound(DatavcError):
    """A repo, branch, tag, commit, path or store that does not exist."""

    exit_code = 3
    category = "not found"


class AlreadyExists(DatavcError):
    """Creating something whose name is taken."""

    exit_code = 4
    category = "already exists"


class Conflict(DatavcError):
    """The state moved under the caller: a finished commit, a branch that moved, a path clash."""

    exit_code = 5
    category = "conflict"


class Integrity(DatavcError):
    """Stored data or metadata that fails verification."""

    exit_code = 6
    category = "integrity"


class BackendUnavailable(DatavcError):
    """The database or object store cannot be reached."""

    exit_code = 7
    category = "backend unavailable"


class PipelineFailed(DatavcError):
    """A pipeline job failed."""

    exit_code = 8
    category = "pipeline failed"


class Unauthenticated(DatavcError):
    """No token, or a token that is unknown, expired or revoked (HTTP 401)."""

    exit_code = 9
    category = "unauthenticated"


class Forbidden(DatavcError):
    """An authenticated user lacks the permission an operation needs; the message names it (HTTP 403)."""

    exit_code = 10
    category = "forbidden"


# Specific errors name the thing and carry it as fields (as storage's ``CorruptObject``
# carries ``oid``, ``expected``, ``actual``); callers catch the category. ``message``
# replaces the default text where the raiser knows more.
class RepoNotFound(NotFound):
    def __init__(self, repo: str, message: str | None = None) -> None:
        super().__init__(message or f"repo {repo!r} not found")
        self.repo = repo


class BranchNotFound(NotFound):
    def __init__(self, repo: str, branch: str, message: str | None = None) -> None:
        super().__init__(message or f"branch {branch!r} not found in repo {repo!r}")
        self.repo = repo
        self.branch = branch


class TagNotFound(NotFound):
    def __init__(self, repo: str, tag: str, message: str | None = None) -> None:
        super().__init__(message or f"tag {tag!r} not found in repo {repo!r}")
        self.repo = repo
        self.tag = tag


class CommitNotFound(NotFound):
    def __init__(self, repo: str, commit: str, message: str | None = None) -> None:
        super().__init__(message or f"commit {commit} not found in repo {repo!r}")
        self.repo = repo
        self.commit = commit


class PathNotFound(NotFound):
    def __init__(self, path: str, message: str | None = None) -> None:
        super().__init__(message or f"/{path} not found")
        self.path = path


class StoreNotFound(NotFound):
    def __init__(self, home: str, message: str | None = None) -> None:
        super().__init__(message or f"no datavc store in {home}")
        self.home = home


class PipelineNotFound(NotFound):
    def __init__(self, pipeline: str, message: str | None = None) -> None:
        super().__init__(message or f"pipeline {pipeline!r} not found")
        self.pipeline = pipeline


class JobNotFound(NotFound):
    def __init__(self, job: str, message: str | None = None) -> None:
        super().__init__(message or f"job {job} not found")
        self.job = job


class AmbiguousRef(InvalidArgument):
    def __init__(self, repo: str, ref: str, message: str | None = None) -> None:
        super().__init__(message or f"ref {ref!r} is ambiguous in repo {repo!r}")
        self.repo = repo
        self.ref = ref


class CommitFinished(Conflict):
    def __init__(self, repo: str, commit: str, message: str | None = None) -> None:
        super().__init__(message or f"commit {commit} of repo {repo!r} is finished")
        self.repo = repo
        self.commit = commit


class BranchMoved(Conflict):
    def __init__(self, repo: str, branch: str, message: str | None = None) -> None:
        super().__init__(message or f"{repo}@{branch} moved")
        self.repo = repo
        self.branch = branch


class MergeConflicts(Conflict):
    """A merge, revert or cherry-pick found paths both sides changed differently; nothing was written.

    ``conflicts`` holds every one (``datavc.info.MergeConflict``: path, kind, both sides' sizes and hashes).
    """

    def __init__(self, message: str, conflicts: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.conflicts = conflicts


class BranchProtected(Conflict):
    """The branch is protected: it moves only by merge (and, strict, is never deleted or reset)."""


class CommitExpired(Conflict):
    """An open commit older than the store's ``open_commit_max_age``: it can only be aborted."""


class CorruptData(Integrity):
    def __init__(self, message: str, oid: str | None = None) -> None:
        super().__init__(message)
        self.oid = oid  # the corrupt object, when one is known


class JobFailed(PipelineFailed):
    """A job cannot produce its output commit (a datum failed, outputs clash, an input is gone)."""


# Every category: the server's remote client turns a category name back into its class.
CATEGORIES: tuple[type[DatavcError], ...] = (
    InvalidArgument,
    NotFound,
    AlreadyExists,
    Conflict,
    Integrity,
    BackendUnavailable,
    PipelineFailed,
    Unauthenticated,
    Forbidden,
)
