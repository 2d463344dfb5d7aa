"""store settings: the store id (paired with the object store's marker) and store-wide options

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

Self-contained (it does not import datavc.db.models).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "store_settings",
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_settings"),
    )


def downgrade() -> None:
    op.drop_table("store_settings")
