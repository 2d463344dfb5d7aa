"""pipelines: pipelines, their inputs, jobs, datums, datum results; commits.job_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Self-contained (it does not import datavc.db.models).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("commits", sa.Column("job_id", sa.String(length=32), nullable=True))
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("running_job", sa.String(length=32), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint("state IN ('running', 'stopped')", name="ck_pipelines_state"),
        sa.PrimaryKeyConstraint("id", name="pk_pipelines"),
        sa.UniqueConstraint("name", name="uq_pipelines_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "pipeline_inputs",
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name="fk_pipeline_inputs_pipeline_id_pipelines",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name="fk_pipeline_inputs_repo_id_repos", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "name", name="pk_pipeline_inputs"),
    )
    op.create_index("ix_pipeline_inputs_repo_id_branch", "pipeline_inputs", ["repo_id", "branch"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="created", nullable=False),
        sa.Column("trigger_commit_id", sa.String(length=32), nullable=True),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("reprocess", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("output_commit_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", TIME, nullable=True),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("datums_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("datums_processed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("datums_skipped", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("datums_failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "state IN ('created', 'running', 'success', 'failure', 'killed')", name="ck_jobs_state"
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name="fk_jobs_pipeline_id_pipelines", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_state_created_at", "jobs", ["state", "created_at"])
    op.create_index("ix_jobs_pipeline_id_created_at", "jobs", ["pipeline_id", "created_at"])
    op.create_table(
        "datums",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("datum_hash", sa.String(length=64), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("logs", sa.Text(), server_default="", nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("output_tree", sa.String(length=64), nullable=True),
        sa.Column("shard", sa.Integer(), nullable=True),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'success', 'failed', 'skipped')", name="ck_datums_state"
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_datums_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_datums"),
        sa.UniqueConstraint("job_id", "datum_hash", name="uq_datums_job_id_datum_hash"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "datum_results",
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("datum_hash", sa.String(length=64), nullable=False),
        sa.Column("output_tree", sa.String(length=64), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name="fk_datum_results_pipeline_id_pipelines",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "datum_hash", name="pk_datum_results"),
    )


def downgrade() -> None:
    for table in ("datum_results", "datums", "jobs", "pipeline_inputs", "pipelines"):
        op.drop_table(table)
    # Plain ALTER TABLE (SQLite >= 3.35 has DROP COLUMN); a batch copy of commits would
    # trip the foreign keys that point at it.
    op.execute("ALTER TABLE commits DROP COLUMN job_id")
