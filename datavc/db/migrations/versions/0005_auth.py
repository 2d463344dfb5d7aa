"""auth: users, API tokens (hashes only), per-repo roles, the audit log

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-30

Self-contained (it does not import datavc.db.models).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=63), server_default="", nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "repo_roles",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("granted_at", TIME, nullable=False),
        sa.Column("granted_by", sa.String(length=255), nullable=False),
        sa.CheckConstraint("role IN ('reader', 'writer', 'owner')", name="ck_repo_roles_role"),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name="fk_repo_roles_repo_id_repos", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_repo_roles_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("repo_id", "user_id", name="pk_repo_roles"),
    )
    op.create_index("ix_repo_roles_user_id", "repo_roles", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("repo", sa.String(length=63), nullable=True),
        sa.Column("branch", sa.String(length=63), nullable=True),
        sa.Column("commit_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_repo_at", "audit_log", ["repo", "at"])
    op.create_index("ix_audit_log_user_name_at", "audit_log", ["user_name", "at"])


def downgrade() -> None:
    for table in ("audit_log", "repo_roles", "api_tokens", "users"):
        op.drop_table(table)
