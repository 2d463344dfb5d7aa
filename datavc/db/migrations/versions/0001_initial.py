"""initial: repos, commits, branches, branch history, tags, provenance

Revision ID: 0001
Revises:
Create Date: 2026-11-30

Self-contained (it does not import datavc.db.models): later model changes must not
change what this revision creates.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def _repo_fk(table: str) -> sa.ForeignKeyConstraint:
    name = f"fk_{table}_repo_id_repos"
    return sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], name=name, ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "repos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_repos"),
        sa.UniqueConstraint("name", name="uq_repos_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "commits",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("branch", sa.String(length=63), nullable=True),
        sa.Column("tree", sa.String(length=64), nullable=False),
        sa.Column("base_tree", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("origin", sa.String(length=16), server_default="user", nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("size", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("file_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("state IN ('open', 'finished')", name="ck_commits_state"),
        sa.CheckConstraint("origin IN ('user', 'pipeline', 'rollback')", name="ck_commits_origin"),
        sa.CheckConstraint("length(id) = 32", name="ck_commits_id_length"),
        _repo_fk("commits"),
        sa.ForeignKeyConstraint(["parent_id"], ["commits.id"], name="fk_commits_parent_id_commits"),
        sa.PrimaryKeyConstraint("id", name="pk_commits"),
    )
    op.create_index("ix_commits_repo_id_created_at", "commits", ["repo_id", "created_at"])
    op.create_index("ix_commits_parent_id", "commits", ["parent_id"])
    op.create_table(
        "branches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("head_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        _repo_fk("branches"),
        sa.ForeignKeyConstraint(["head_id"], ["commits.id"], name="fk_branches_head_id_commits"),
        sa.PrimaryKeyConstraint("id", name="pk_branches"),
        sa.UniqueConstraint("repo_id", "name", name="uq_branches_repo_id_name"),
    )
    op.create_index("ix_branches_head_id", "branches", ["head_id"])
    op.create_table(
        "branch_history",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=63), nullable=False),
        sa.Column("old_head", sa.String(length=32), nullable=True),
        sa.Column("new_head", sa.String(length=32), nullable=True),
        sa.Column("who", sa.String(length=255), nullable=False),
        sa.Column("why", sa.Text(), server_default="", nullable=False),
        sa.Column("at", TIME, nullable=False),
        _repo_fk("branch_history"),
        sa.PrimaryKeyConstraint("id", name="pk_branch_history"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_branch_history_repo_id_branch_at", "branch_history", ["repo_id", "branch", "at"])
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("commit_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        _repo_fk("tags"),
        sa.ForeignKeyConstraint(["commit_id"], ["commits.id"], name="fk_tags_commit_id_commits"),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
        sa.UniqueConstraint("repo_id", "name", name="uq_tags_repo_id_name"),
    )
    op.create_index("ix_tags_commit_id", "tags", ["commit_id"])
    op.create_table(
        "provenance",
        sa.Column("commit_id", sa.String(length=32), nullable=False),
        sa.Column("input_commit_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), server_default="input", nullable=False),
        sa.CheckConstraint("commit_id <> input_commit_id", name="ck_provenance_not_self"),
        sa.ForeignKeyConstraint(
            ["commit_id"], ["commits.id"], name="fk_provenance_commit_id_commits", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["input_commit_id"],
            ["commits.id"],
            name="fk_provenance_input_commit_id_commits",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("commit_id", "input_commit_id", name="pk_provenance"),
    )
    op.create_index("ix_provenance_input_commit_id", "provenance", ["input_commit_id"])


def downgrade() -> None:
    # Dropping a table drops its indexes too.
    for table in ("provenance", "tags", "branch_history", "branches", "commits", "repos"):
        op.drop_table(table)
