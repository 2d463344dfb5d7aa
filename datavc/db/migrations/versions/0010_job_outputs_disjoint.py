"""jobs.outputs_disjoint: whether a job's datums wrote disjoint output paths

Revision ID: 0010_job_outputs_disjoint
Revises: 0009_job_tokens
Create Date: 2026-12-01

Self-contained (it does not import datavc.db.models). Additive: one new column with a
default; existing jobs read as not disjoint, so the next job of each pipeline plans in full.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_job_outputs_disjoint"
down_revision: str | Sequence[str] | None = "0009_job_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("outputs_disjoint", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("outputs_disjoint")
