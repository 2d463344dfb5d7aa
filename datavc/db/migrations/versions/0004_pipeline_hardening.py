"""pipeline hardening: repos.output_of, pipelines.reason, datums.process

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-30

``repos.output_of`` names the pipeline a repo was created for (a pipeline never takes
over a user's repo); ``pipelines.reason`` says why a pipeline was stopped (its input or
output repo was deleted); ``datums.process`` records where a running datum's process
tree lives (host boot id, pid, start time, scratch directory) so a scheduler that
reclaims the job can kill an orphan safely. Self-contained (it does not import
datavc.db.models).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("repos", sa.Column("output_of", sa.String(length=63), nullable=True))
    op.add_column("pipelines", sa.Column("reason", sa.Text(), server_default="", nullable=False))
    op.add_column("datums", sa.Column("process", sa.Text(), nullable=True))
    # Output repos of existing pipelines are theirs.
    op.execute("UPDATE repos SET output_of = name WHERE name IN (SELECT name FROM pipelines)")


def downgrade() -> None:
    with op.batch_alter_table("datums") as batch:
        batch.drop_column("process")
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("repos") as batch:
        batch.drop_column("output_of")
