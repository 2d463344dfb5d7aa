"""collaboration: extra commit parents (merges), commit metadata, branch protection

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


def downgrade() -> None:
    with op.batch_alter_table("branches") as batch:
        batch.drop_column("protection")
    op.drop_table("commit_metadata")
    op.drop_index("ix_commit_parents_parent_id", table_name="commit_parents")
    op.drop_table("commit_parents")
