"""commit sets: one id shared by a user commit and every output commit it causes downstream

Revision ID: 0007_commit_sets
Revises: 0005
Create Date: 2026-11-30

``commit_sets`` records each set (who started it, how); ``commits.commit_set_id``,
``jobs.commit_set_id`` and ``branch_history.commit_set_id`` tie commits, jobs and head
moves to their set, so a pipeline whose inputs share an upstream runs once per set on
inputs from that set only. ``pipeline_inputs.trigger`` holds an input's branch trigger
(JSON), read when a commit lands on the branch it watches. Rows written before this
revision have no set (NULL) and run as before. ``pipeline_cron`` keeps each cron
input's last tick. Additive only; self-contained (it does not import datavc.db.models).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_commit_sets"
down_revision: str | Sequence[str] | None = "0006_collaboration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "commit_sets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commit_sets")),
    )
    op.create_table(
        "pipeline_cron",
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("last_tick", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_cron_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "name", name=op.f("pk_pipeline_cron")),
    )
    op.add_column("pipeline_inputs", sa.Column("trigger", sa.Text(), nullable=True))
    for table in ("commits", "jobs", "branch_history"):
        op.add_column(table, sa.Column("commit_set_id", sa.String(length=32), nullable=True))
        op.create_index(op.f(f"ix_{table}_commit_set_id"), table, ["commit_set_id"])


def downgrade() -> None:
    for table in ("branch_history", "jobs", "commits"):
        op.drop_index(op.f(f"ix_{table}_commit_set_id"), table_name=table)
        # A plain ALTER TABLE DROP COLUMN (SQLite 3.35+): a batch copy of ``commits`` would
        # drop the table that branch heads and tags point at, which SQLite's FK check refuses.
        op.drop_column(table, "commit_set_id")
    op.drop_column("pipeline_inputs", "trigger")
    op.drop_table("pipeline_cron")
    op.drop_table("commit_sets")
