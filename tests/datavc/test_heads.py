"""Every branch-head move goes through heads.set_if_equals: compare-and-swap, reflog entry, triggers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from datavc import Client
from datavc.db.models import BranchHistory, Job, Repo
from datavc.heads import set_if_equals


def test_set_if_equals_moves_records_and_triggers_only_when_the_head_is_as_expected(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store") as c:
        c.create_repo("r")
        first = c.put_file("r", "main", "/a", b"a").id
        second = c.put_file("r", "main", "/b", b"b").id
        c.create_pipeline(name="p", input={"pfs": {"repo": "r", "glob": "/"}}, transform={"cmd": ["true"]})
        ctx = c.context
        with ctx.db.write() as s:
            repo_id = s.scalars(select(Repo.id).where(Repo.name == "r")).one()
            jobs_before = len(s.scalars(select(Job.id)).all())
            reflog_before = len(s.scalars(select(BranchHistory.id)).all())
            # Lost race: the head is not `first`; nothing is written.
            assert not set_if_equals(s, repo_id, "main", first, first, who="t", why="lost")
            assert len(s.scalars(select(BranchHistory.id)).all()) == reflog_before
            # Won: the head moves, the reflog has the move, the pipeline reading main has a job.
            assert set_if_equals(s, repo_id, "main", second, first, who="t", why="reset by test")
            entry = s.scalars(select(BranchHistory).order_by(BranchHistory.id.desc())).first()
            assert entry is not None
            assert (entry.old_head, entry.new_head, entry.who, entry.why) == (
                second,
                first,
                "t",
                "reset by test",
            )
            assert len(s.scalars(select(Job.id)).all()) == jobs_before + 1
        assert c.inspect_branch("r", "main").head == first
