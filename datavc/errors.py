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


# Specific errors name the thing; callers catch the category.
class RepoNotFound(NotFound):
    pass


class BranchNotFound(NotFound):
    pass


class TagNotFound(NotFound):
    pass


class CommitNotFound(NotFound):
    pass


class PathNotFound(NotFound):
    pass


class StoreNotFound(NotFound):
    pass


class AmbiguousRef(InvalidArgument):
    pass


class CommitFinished(Conflict):
    pass


class BranchMoved(Conflict):
    pass


class CorruptData(Integrity):
    pass


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
