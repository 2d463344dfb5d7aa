"""Row factories for the db tests."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from datavc.db.models import Branch, Commit, Repo


def new_id() -> str:
    return uuid.uuid4().hex


def add_repo(session: Session, name: str = "data") -> Repo:
    repo = Repo(name=name, created_by="alice")
    session.add(repo)
    session.flush()
    return repo


def add_commit(session: Session, repo: Repo, *, parent: Commit | None = None, **fields: object) -> Commit:
    values: dict[str, object] = {
        "id": new_id(),
        "repo_id": repo.id,
        "parent_id": parent.id if parent else None,
        "branch": "main",
        "tree": "t" * 64,
        "base_tree": parent.tree if parent else "t" * 64,
        "author": "alice",
    }
    commit = Commit(**{**values, **fields})
    session.add(commit)
    session.flush()
    return commit


def add_branch(session: Session, repo: Repo, head: Commit | None, name: str = "main") -> Branch:
    branch = Branch(repo_id=repo.id, name=name, head_id=head.id if head else None)
    session.add(branch)
    session.flush()
    return branch
