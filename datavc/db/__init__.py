"""Metadata layer: SQLAlchemy 2.0 models, sessions and Alembic migrations shipped in the package.

``Database.open(url)`` is the entry point: it connects (SQLite file or PostgreSQL) and
brings the schema to the version this code expects.
"""

from __future__ import annotations

from datavc.db.models import Base, Branch, BranchHistory, Commit, Provenance, Repo, Tag
from datavc.db.session import Database

__all__ = ["Base", "Branch", "BranchHistory", "Commit", "Database", "Provenance", "Repo", "Tag"]
