"""collaboration: extra commit parents (merges), commit metadata, branch protection, hooks

Revision ID: 0006_collaboration
Revises: 0005
Create Date: 2026-11-30

Additive only: two new tables and one column with a default, so an old store migrates
without touching a row. A commit's first parent stays in ``commits.parent_id``; only a
merge commit's further parents go to ``commit_parents``.

Self-contained (it does not import datavc.db.models).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_collaboration"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commit_parents",
        sa.Column("commit_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["commit_id"], ["commits.id"], name="fk_commit_parents_commit_id_commits", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["commits.id"], name="fk_commit_parents_parent_id_commits"),
        sa.PrimaryKeyConstraint("commit_id", "position", name="pk_commit_parents"),
        sa.CheckConstraint("position >= 1", name="ck_commit_parents_not_first"),
    )
    op.create_index("ix_commit_parents_parent_id", "commit_parents", ["parent_id"])
    op.create_table(
        "commit_metadata",
        sa.Column("commit_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commit_id"], ["commits.id"], name="fk_commit_metadata_commit_id_commits", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("commit_id", "key", name="pk_commit_metadata"),
    )
    op.add_column(
        "branches", sa.Column("protection", sa.String(length=16), server_default="", nullable=False)
    )
    op.create_table(
        "hooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("branches", sa.String(length=255), server_default="*", nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], name="fk_hooks_repo_id_repos", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_hooks"),
        sa.UniqueConstraint("repo_id", "name", name="uq_hooks_repo_id_name"),
    )
    op.create_table(
        "hook_results",
        sa.Column("commit_id", sa.String(length=32), nullable=False),
        sa.Column("hook", sa.String(length=63), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("log", sa.Text(), server_default="", nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["commit_id"], ["commits.id"], name="fk_hook_results_commit_id_commits", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("commit_id", "hook", name="pk_hook_results"),
    )


def downgrade() -> None:
    op.drop_table("hook_results")
    op.drop_table("hooks")
    with op.batch_alter_table("branches") as batch:
        batch.drop_column("protection")
    op.drop_table("commit_metadata")
    op.drop_index("ix_commit_parents_parent_id", table_name="commit_parents")
    op.drop_table("commit_parents")
