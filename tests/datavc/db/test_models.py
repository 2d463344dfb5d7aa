"""Constraints, cascades and time zones, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, StatementError

from datavc.db import Database
from datavc.db.models import Base, Branch, BranchHistory, Commit, Provenance, Repo, Tag
from tests.datavc.db.helpers import add_branch, add_commit, add_repo, new_id


def count(db: Database, model: type[Base]) -> int:
    with db.read() as s:
        n = s.scalar(select(func.count()).select_from(model))
        assert n is not None
        return n


def test_repo_names_are_unique(db: Database) -> None:
    with db.write() as s:
        add_repo(s, "images")
    with pytest.raises(IntegrityError), db.write() as s:
        add_repo(s, "images")
    assert count(db, Repo) == 1


@pytest.mark.parametrize(
    "fields",
    [{"state": "closed"}, {"origin": "merge"}, {"id": "abc123"}],
    ids=["state", "origin", "id-length"],
)
def test_commit_checks(db: Database, fields: dict[str, Any]) -> None:
    with db.write() as s:
        repo_id = add_repo(s).id
    with pytest.raises(IntegrityError), db.write() as s:
        repo = s.get_one(Repo, repo_id)
        add_commit(s, repo, **fields)
    assert count(db, Commit) == 0


def test_branch_and_tag_names_are_unique_per_repo(db: Database) -> None:
    with db.write() as s:
        a, b = add_repo(s, "a"), add_repo(s, "b")
        add_branch(s, a, None, "main")
        add_branch(s, b, None, "main")
        for r in (a, b):
            s.add(Tag(repo_id=r.id, name="v1", commit_id=add_commit(s, r).id, created_by="x"))
        a_id = a.id
    with pytest.raises(IntegrityError), db.write() as s:
        add_branch(s, s.get_one(Repo, a_id), None, "main")
    with pytest.raises(IntegrityError), db.write() as s:
        a = s.get_one(Repo, a_id)
        s.add(Tag(repo_id=a.id, name="v1", commit_id=add_commit(s, a).id, created_by="x"))
        s.flush()


def test_deleting_a_repo_cascades_to_everything_in_it(db: Database) -> None:
    with db.write() as s:
        data, out = add_repo(s, "data"), add_repo(s, "out")
        first = add_commit(s, data)
        second = add_commit(s, data, parent=first, state="finished")
        add_branch(s, data, second)
        add_branch(s, data, first, "old")
        s.add(Tag(repo_id=data.id, name="v1", commit_id=first.id, created_by="alice"))
        s.add(BranchHistory(repo_id=data.id, branch="main", old_head=first.id, new_head=second.id, who="a"))
        derived = add_commit(s, out, origin="pipeline")
        s.add(Provenance(commit_id=derived.id, input_commit_id=second.id))
        s.add(Provenance(commit_id=second.id, input_commit_id=first.id))
        add_branch(s, out, derived)
        data_id, derived_id = data.id, derived.id

    with db.write() as s:
        s.execute(delete(Repo).where(Repo.id == data_id))

    with db.read() as s:
        for model in (Commit, Branch, Tag, BranchHistory):
            rows = s.scalars(select(model).where(model.repo_id == data_id)).all()
            assert rows == [], model.__name__
        assert s.scalars(select(Provenance)).all() == []
        assert s.scalars(select(Commit.id)).all() == [derived_id]  # the other repo is untouched
    assert count(db, Repo) == 1
    assert count(db, Branch) == 1


def test_a_commit_still_referenced_cannot_be_deleted_alone(db: Database) -> None:
    with db.write() as s:
        repo = add_repo(s)
        parent_id = add_commit(s, repo).id
        add_commit(s, repo, parent=s.get_one(Commit, parent_id))
    with pytest.raises(IntegrityError), db.write() as s:
        s.execute(delete(Commit).where(Commit.id == parent_id))
    assert count(db, Commit) == 2


def test_provenance_edge_to_itself_is_refused(db: Database) -> None:
    with db.write() as s:
        commit_id = add_commit(s, add_repo(s)).id
    with pytest.raises(IntegrityError), db.write() as s:
        s.add(Provenance(commit_id=commit_id, input_commit_id=commit_id))


def test_defaults(db: Database) -> None:
    before = datetime.now(UTC)
    with db.write() as s:
        repo = add_repo(s)
        commit = add_commit(s, repo)
        commit_id = commit.id
        s.add(Provenance(commit_id=add_commit(s, repo).id, input_commit_id=commit_id))
    with db.read() as s:
        repo = s.scalars(select(Repo)).one()
        commit = s.get_one(Commit, commit_id)
        edge = s.scalars(select(Provenance)).one()
    assert repo.description == ""
    assert (commit.state, commit.origin, commit.message, commit.size, commit.file_count) == (
        "open",
        "user",
        "",
        0,
        0,
    )
    assert commit.finished_at is None
    assert edge.kind == "input"
    assert before - timedelta(seconds=5) <= commit.created_at <= datetime.now(UTC) + timedelta(seconds=5)


def test_times_are_aware_utc_and_keep_their_order(db: Database) -> None:
    eastern = timezone(timedelta(hours=-5))
    moment = datetime(2024, 3, 1, 7, 30, 15, 123456, tzinfo=eastern)
    with db.write() as s:
        repo = add_repo(s)
        for i in range(3):
            at = moment + timedelta(i)
            s.add(
                BranchHistory(repo_id=repo.id, branch="main", new_head=new_id(), who="a", why=str(i), at=at)
            )
    with db.read() as s:
        query = select(BranchHistory).where(BranchHistory.at > moment).order_by(BranchHistory.at)
        rows = s.scalars(query).all()
    assert [r.why for r in rows] == ["1", "2"]
    assert rows[0].at == moment + timedelta(1)
    assert rows[0].at.tzinfo is UTC
    assert rows[0].at.hour == 12


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), db.write() as s:
        s.add(Repo(name="r", created_by="a", created_at=datetime(2024, 1, 1)))
        s.flush()
