"""s3 keys: access key ids of the S3 gateway (no secrets: they are derived from a master key)

Revision ID: 0008_s3_keys
Revises: 0005
Create Date: 2026-11-30

Self-contained (it does not import datavc.db.models). Additive: one new table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_s3_keys"
down_revision: str | Sequence[str] | None = "0007_commit_sets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "s3_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), server_default="", nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_s3_keys_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_s3_keys"),
    )
    op.create_index("ix_s3_keys_user_id", "s3_keys", ["user_id"])


def downgrade() -> None:
    op.drop_table("s3_keys")
