"""Typed ORM models of the metadata database (SQLAlchemy 2.0, SQLite and PostgreSQL).

Deleting a repo deletes everything in it through ``ON DELETE CASCADE`` on every
``repo_id``. References between commits (``commits.parent_id``, ``branches.head_id``,
``tags.commit_id``) have no ``ON DELETE`` action (``NO ACTION``): both databases check them
at the end of the statement, so a repo delete that removes a whole commit graph at once
succeeds, while deleting one commit that is still a parent, head or tag target fails with an
``IntegrityError`` instead of silently rewriting history. Provenance edges cascade from
both ends: an edge means nothing without either commit.

No relationships are mapped: services query with ``select()`` explicitly, so no attribute
access hides a query.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME_LEN = 63
COMMIT_ID_LEN = 32
TREE_ID_LEN = 64
USER_LEN = 255

# Each state set twice: a Literal for signatures, a tuple for the CHECK constraint (mypy
# checks the tuple against the Literal, so the two cannot drift apart).
CommitState = Literal["open", "finished"]
COMMIT_STATES: tuple[CommitState, ...] = ("open", "finished")
PipelineState = Literal["running", "stopped"]
PIPELINE_STATES: tuple[PipelineState, ...] = ("running", "stopped")
JobState = Literal["created", "running", "success", "failure", "killed"]
JOB_STATES: tuple[JobState, ...] = ("created", "running", "success", "failure", "killed")
DatumState = Literal["pending", "running", "success", "failed", "skipped"]
DATUM_STATES: tuple[DatumState, ...] = ("pending", "running", "success", "failed", "skipped")
HASH_LEN = 64
CommitOrigin = Literal["user", "pipeline", "rollback"]
COMMIT_ORIGINS: tuple[CommitOrigin, ...] = ("user", "pipeline", "rollback")

# SQLite makes only an INTEGER PRIMARY KEY an alias of the autoincrementing rowid.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every database.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the UTC wall time is
    stored (a fixed-width string that sorts by time) and UTC is attached again on load.
    Naive datetimes are refused: a time without a zone is a bug waiting to happen.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Repo(Base):
    __tablename__ = "repos"
    # AUTOINCREMENT on SQLite: ids of deleted repos are never handed out again.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(USER_LEN))
    # The pipeline this repo was created for as its output (None: a user's repo, which no
    # pipeline may take over).
    output_of: Mapped[str | None] = mapped_column(String(NAME_LEN))


class Commit(Base):
    __tablename__ = "commits"
    __table_args__ = (
        CheckConstraint(_in("state", COMMIT_STATES), name="state"),
        CheckConstraint(_in("origin", COMMIT_ORIGINS), name="origin"),
        CheckConstraint(f"length(id) = {COMMIT_ID_LEN}", name="id_length"),
        # Also the index for repo_id alone (its leftmost column), e.g. the repo-delete cascade.
        Index(None, "repo_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(COMMIT_ID_LEN), primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    # Indexed: children lookups, and the FK check when a commit is deleted.
    parent_id: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN), ForeignKey("commits.id"), index=True)
    branch: Mapped[str | None] = mapped_column(String(NAME_LEN))
    tree: Mapped[str] = mapped_column(String(TREE_ID_LEN))
    base_tree: Mapped[str] = mapped_column(String(TREE_ID_LEN))
    state: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    origin: Mapped[str] = mapped_column(String(16), default="user", server_default="user")
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    author: Mapped[str] = mapped_column(String(USER_LEN))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    size: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    file_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # The pipeline job whose output this is (no FK: a commit outlives its pipeline's records).
    job_id: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN))
    # The commit set it belongs to (a user commit starts one: its own id); no FK, like job_id.
    commit_set_id: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN), index=True)


class Branch(Base):
    __tablename__ = "branches"
    __table_args__ = (UniqueConstraint("repo_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    head_id: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN), ForeignKey("commits.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "" (none), "merge" (the head moves only by merge) or "strict" (also no delete or reset).
    protection: Mapped[str] = mapped_column(String(16), default="", server_default="")


class CommitParent(Base):
    """A merge commit's further parents (``position`` 1, 2, ...); the first stays in ``commits.parent_id``."""

    __tablename__ = "commit_parents"
    __table_args__ = (
        PrimaryKeyConstraint("commit_id", "position"),
        CheckConstraint("position >= 1", name="not_first"),
    )

    commit_id: Mapped[str] = mapped_column(
        String(COMMIT_ID_LEN), ForeignKey("commits.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    # Indexed: children lookups, and the FK check when a commit is deleted.
    parent_id: Mapped[str] = mapped_column(String(COMMIT_ID_LEN), ForeignKey("commits.id"), index=True)


class CommitMetadata(Base):
    """One ``key=value`` of a commit's user metadata (``-M``); set when the commit is made, never changed."""

    __tablename__ = "commit_metadata"
    __table_args__ = (PrimaryKeyConstraint("commit_id", "key"),)

    commit_id: Mapped[str] = mapped_column(
        String(COMMIT_ID_LEN), ForeignKey("commits.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(NAME_LEN))
    value: Mapped[str] = mapped_column(Text)


class Hook(Base):
    """A pre-commit / pre-merge / post-commit / post-merge hook of a repo (see ``datavc.hooks``)."""

    __tablename__ = "hooks"
    __table_args__ = (UniqueConstraint("repo_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    event: Mapped[str] = mapped_column(String(16))
    branches: Mapped[str] = mapped_column(String(255), default="*", server_default="*")  # a glob
    spec: Mapped[str] = mapped_column(Text)  # JSON {cmd, image, timeout, env, url}
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(USER_LEN))


class HookResult(Base):
    """What a hook said about the commit it judged (recorded with that commit)."""

    __tablename__ = "hook_results"
    __table_args__ = (PrimaryKeyConstraint("commit_id", "hook"),)

    commit_id: Mapped[str] = mapped_column(
        String(COMMIT_ID_LEN), ForeignKey("commits.id", ondelete="CASCADE")
    )
    hook: Mapped[str] = mapped_column(String(NAME_LEN))
    event: Mapped[str] = mapped_column(String(16))
    passed: Mapped[bool]
    exit_code: Mapped[int | None] = mapped_column(Integer)
    log: Mapped[str] = mapped_column(Text, default="", server_default="")
    duration: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class BranchHistory(Base):
    """The reflog: one row per head move, also the source of "as of" reads."""

    __tablename__ = "branch_history"
    __table_args__ = (
        Index(None, "repo_id", "branch", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    branch: Mapped[str] = mapped_column(String(NAME_LEN))
    # Not foreign keys: the log outlives the commits it mentions.
    old_head: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN))
    new_head: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN))
    who: Mapped[str] = mapped_column(String(USER_LEN))
    why: Mapped[str] = mapped_column(Text, default="", server_default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # The commit set this move belongs to: where a job of that set finds its input commit.
    commit_set_id: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN), index=True)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repo_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    commit_id: Mapped[str] = mapped_column(String(COMMIT_ID_LEN), ForeignKey("commits.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(USER_LEN))


class Provenance(Base):
    """An edge: ``commit_id`` was derived from ``input_commit_id``."""

    __tablename__ = "provenance"
    __table_args__ = (
        PrimaryKeyConstraint("commit_id", "input_commit_id"),
        CheckConstraint("commit_id <> input_commit_id", name="not_self"),
    )

    commit_id: Mapped[str] = mapped_column(
        String(COMMIT_ID_LEN), ForeignKey("commits.id", ondelete="CASCADE")
    )
    # Indexed for subvenance (who was derived from this commit?).
    input_commit_id: Mapped[str] = mapped_column(
        String(COMMIT_ID_LEN), ForeignKey("commits.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32), default="input", server_default="input")


class Pipeline(Base):
    """A pipeline: its current spec (canonical JSON) and version; output repo = its name."""

    __tablename__ = "pipelines"
    __table_args__ = (
        CheckConstraint(_in("state", PIPELINE_STATES), name="state"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    spec: Mapped[str] = mapped_column(Text)
    spec_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    state: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    # The job a scheduler is running for this pipeline: claiming sets it under a row lock,
    # so two schedulers never run two jobs of one pipeline at once.
    running_job: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN))
    # Why the pipeline is stopped when datavc stopped it (e.g. its input repo was deleted).
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PipelineInput(Base):
    """Which repo@branch a pipeline reads (under which input name): the trigger index."""

    __tablename__ = "pipeline_inputs"
    __table_args__ = (
        PrimaryKeyConstraint("pipeline_id", "name"),
        Index(None, "repo_id", "branch"),
    )

    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    branch: Mapped[str] = mapped_column(String(NAME_LEN))
    # A branch trigger (JSON: branch, all, cron_spec, size, commits): ``branch`` moves to the
    # head of the watched branch when its conditions hold (datavc/branch_triggers.py).
    trigger: Mapped[str | None] = mapped_column(Text)


class Job(Base):
    """One run of a pipeline over one set of input commits."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("state", JOB_STATES), name="state"),
        Index(None, "state", "created_at"),
        Index(None, "pipeline_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(COMMIT_ID_LEN), primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    pipeline_version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[str] = mapped_column(Text)  # the spec this job runs with (canonical JSON)
    state: Mapped[str] = mapped_column(String(16), default="created", server_default="created")
    trigger_commit_id: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN))
    inputs: Mapped[str] = mapped_column(Text)  # JSON {input name: commit id}
    reprocess: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    output_commit_id: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(USER_LEN))
    heartbeat_at: Mapped[datetime | None]
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    datums_total: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    datums_processed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    datums_skipped: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    datums_failed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # No two datums wrote the same output path: the next job may edit this job's output tree
    # instead of merging every datum's output again (datavc.pipelines.incremental).
    outputs_disjoint: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The commit set it runs for: its inputs are that set's commits (resolved when claimed).
    commit_set_id: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN), index=True)


class CommitSet(Base):
    """A commit set: started by a user commit, a head move, a cron tick or a pipeline change.

    Its id is shared by every commit and job it causes downstream (see datavc/triggers.py).
    """

    __tablename__ = "commit_sets"

    id: Mapped[str] = mapped_column(String(COMMIT_ID_LEN), primary_key=True)
    origin: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by: Mapped[str] = mapped_column(String(USER_LEN))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PipelineCron(Base):
    """The last tick of one cron input of a pipeline (the next is due one schedule step later)."""

    __tablename__ = "pipeline_cron"
    __table_args__ = (PrimaryKeyConstraint("pipeline_id", "name"),)

    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    last_tick: Mapped[datetime | None]


class Datum(Base):
    """One datum of one job: its inputs, state, tries, exit code, logs and output tree."""

    __tablename__ = "datums"
    __table_args__ = (
        CheckConstraint(_in("state", DATUM_STATES), name="state"),
        UniqueConstraint("job_id", "datum_hash"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(COMMIT_ID_LEN), ForeignKey("jobs.id", ondelete="CASCADE"))
    datum_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    key: Mapped[str] = mapped_column(Text)  # JSON [[input name, path, content hash], ...]
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    logs: Mapped[str] = mapped_column(Text, default="", server_default="")
    duration: Mapped[float | None] = mapped_column(Float)
    output_tree: Mapped[str | None] = mapped_column(String(TREE_ID_LEN))
    shard: Mapped[int | None] = mapped_column(Integer)  # the worker pod index that runs it (Kubernetes)
    # While it runs locally: JSON {boot, pid, start, scratch} of its process tree (see reaper.py).
    process: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class DatumResult(Base):
    """A datum a pipeline has processed: its hash, output tree and inputs (for skipping and lineage)."""

    __tablename__ = "datum_results"
    __table_args__ = (PrimaryKeyConstraint("pipeline_id", "datum_hash"),)

    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    datum_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    output_tree: Mapped[str] = mapped_column(String(TREE_ID_LEN))
    inputs: Mapped[str] = mapped_column(Text)  # JSON [[input name, path, content hash], ...]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TreePage(Base):
    """A tree page stored in a tree pack (:mod:`storage.treepack`) rather than as an object:
    a batched job's datum output trees. The store's ``tree_locator`` reads this table."""

    __tablename__ = "tree_pages"

    page: Mapped[str] = mapped_column(String(TREE_ID_LEN), primary_key=True)
    pack: Mapped[str] = mapped_column(String(TREE_ID_LEN), index=True)


class StoreSetting(Base):
    """One store-wide setting: ``store_id`` (paired with the object store's marker), options."""

    __tablename__ = "store_settings"

    key: Mapped[str] = mapped_column(String(63), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# --- identity, roles and the audit log (the server, ``datavc serve``) -----------------

ROLES = ("reader", "writer", "owner")
TOKEN_ID_LEN = 16
TOKEN_HASH_LEN = 64


class User(Base):
    """A person or service account that talks to the server; ``is_admin`` manages users and roles."""

    __tablename__ = "users"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(USER_LEN))


class ApiToken(Base):
    """An API token: only its SHA-256 is kept (tokens carry 256 random bits, so no slow hash is needed).

    ``id`` is a short public handle for listing and revoking; it is not part of the secret.
    """

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(TOKEN_ID_LEN), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LEN), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class RepoRole(Base):
    """A user's role on one repo: reader < writer < owner."""

    __tablename__ = "repo_roles"
    __table_args__ = (
        PrimaryKeyConstraint("repo_id", "user_id"),
        CheckConstraint(_in("role", ROLES), name="role"),
    )

    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(USER_LEN))


class AuditEntry(Base):
    """One mutating request or failed authorization. Names, not foreign keys: the log outlives them."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "at"),
        Index(None, "repo", "at"),
        Index(None, "user_name", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_name: Mapped[str | None] = mapped_column(String(USER_LEN))
    action: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    repo: Mapped[str | None] = mapped_column(String(NAME_LEN))
    branch: Mapped[str | None] = mapped_column(String(NAME_LEN))
    commit_id: Mapped[str | None] = mapped_column(String(COMMIT_ID_LEN))
    status: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(Text, default="", server_default="")


class S3Key(Base):
    """An S3 gateway access key of a user. No secret is stored: it is derived on demand
    (HMAC of the id under the server's S3 master key, see ``datavc.s3keys``)."""

    __tablename__ = "s3_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the access key id
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class PipelineIdentity(Base):
    """The service user a pipeline runs as (``datavc.pipelines.identity``): reader on its
    inputs, writer on its output repo. ``granted_by`` names whose roles bound it (the user
    who last set its spec through the server), or is NULL when set directly on the store."""

    __tablename__ = "pipeline_identities"

    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    granted_by: Mapped[str | None] = mapped_column(String(USER_LEN))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobToken(Base):
    """A short-lived token of one job's worker pods (``datavc.job_tokens``): only its SHA-256
    is kept; it acts as the pipeline's identity, within the job's scope, until it expires,
    is revoked (when the job ends) or its job is gone."""

    __tablename__ = "job_tokens"

    id: Mapped[str] = mapped_column(String(TOKEN_ID_LEN), primary_key=True)
    job_id: Mapped[str] = mapped_column(
        String(COMMIT_ID_LEN), ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LEN), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
