"""tree_pages: which tree pack holds a tree page that is not an object of its own

Revision ID: 0011_tree_pages
Revises: 0010_job_outputs_disjoint
Create Date: 2026-12-01

Self-contained (it does not import datavc.db.models). Additive: a new table, empty at
first; every existing tree is an object of its own and needs no row.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_tree_pages"
down_revision: str | Sequence[str] | None = "0010_job_outputs_disjoint"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tree_pages",
        sa.Column("page", sa.String(length=64), primary_key=True),
        sa.Column("pack", sa.String(length=64), nullable=False),
    )
    op.create_index("ix_tree_pages_pack", "tree_pages", ["pack"])


def downgrade() -> None:
    op.drop_index("ix_tree_pages_pack", table_name="tree_pages")
    op.drop_table("tree_pages")
