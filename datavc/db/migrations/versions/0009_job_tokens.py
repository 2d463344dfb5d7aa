"""job tokens: per-pipeline service identities and short-lived tokens of worker pods

Revision ID: 0009_job_tokens
Revises: 0008_s3_keys
Create Date: 2026-12-01

Self-contained (it does not import datavc.db.models). Additive: two new tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_job_tokens"
down_revision: str | Sequence[str] | None = "0008_s3_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pipeline_identities",
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("granted_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name="fk_pipeline_identities_pipeline_id_pipelines",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_pipeline_identities_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pipeline_id", name="pk_pipeline_identities"),
        sa.UniqueConstraint("user_id", name="uq_pipeline_identities_user_id"),
    )
    op.create_table(
        "job_tokens",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_tokens_job_id_jobs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_job_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_job_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_job_tokens_token_hash"),
    )
    op.create_index("ix_job_tokens_job_id", "job_tokens", ["job_id"])


def downgrade() -> None:
    op.drop_table("job_tokens")
    op.drop_table("pipeline_identities")
