"""Merge, revert and cherry-pick through ``datavc.Client`` (``datavc/merge.py``), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.errors import BranchProtected, InvalidArgument, MergeConflicts, NotFound
from datavc.graph import merge_base, parent_graph
from tests.datavc.helpers import assert_fsck_clean, files_of, ids, snapshot_state


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    """A fresh store on SQLite and on PostgreSQL: for merge commits in history, conflicts, concurrency."""
    db = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    c = Client.init(tmp_path / "store", db=db)
    yield c
    c.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Client]:
    """A fresh SQLite store (the rest: the contract suite runs these verbs on PostgreSQL too)."""
    c = Client.init(tmp_path / "store")
    yield c
    c.close()


def diverged(api: Client) -> tuple[str, str]:
    """Repo ``r``: a base, then ``dev`` and ``main`` each change different files. Returns the heads."""
    api.create_repo("r")
    with api.commit("r", "main", "base") as tx:
        for name in ("a", "b", "c"):
            tx.put_file(f"/{name}.csv", f"h\n{name}\n".encode())
    api.create_branch("r", "dev")
    dev = api.put_file("r", "dev", "/a.csv", b"h\ncleaned a\n", message="clean a").id
    main = api.put_file("r", "main", "/new.csv", b"h\nnew\n", message="new on main").id
    return main, dev


def test_fast_forward_up_to_date_and_merging_a_branch_into_itself(api: Client) -> None:
    api.create_repo("r")
    c1 = api.put_file("r", "main", "/x", b"1").id
    api.create_branch("r", "dev")
    c2 = api.put_file("r", "dev", "/y", b"2").id
    before = snapshot_state(api)
    assert api.merge("r", "main", "main").result == "up-to-date"
    assert api.merge("r", "main", "dev").result == "up-to-date"  # main is behind dev
    assert snapshot_state(api) == before
    dry = api.merge("r", "dev", "main", dry_run=True)
    assert (dry.result, dry.dry_run, dry.commit) == ("fast-forward", True, None)
    assert api.inspect_branch("r", "main").head == c1
    ff = api.merge("r", "dev", "main")
    assert (ff.result, ff.base, ff.commit.id if ff.commit else None) == ("fast-forward", c1, c2)
    assert api.inspect_branch("r", "main").head == c2
    assert api.reflog("r", "main")[0].why.endswith("fast-forward")
    # --no-ff makes a merge commit even so
    c3 = api.put_file("r", "dev", "/z", b"3").id
    m = api.merge("r", "dev", "main", no_ff=True)
    assert m.result == "merged" and m.commit is not None and m.commit.parents == (c2, c3)


def test_three_way_merge_commit_in_log_diff_rollback_and_lineage(api: Client) -> None:
    main, dev = diverged(api)
    info = api.merge("r", "dev", "main", metadata={"ticket": "DATA-7"})
    assert info.result == "merged" and info.changes == 1 and info.conflicts == ()
    c = info.commit
    assert c is not None and c.parents == (main, dev) and c.parent == main
    assert c.message == "merge dev into main" and c.metadata == {"ticket": "DATA-7"}
    assert files_of(api, "r") == {
        "/a.csv": b"h\ncleaned a\n",
        "/b.csv": b"h\nb\n",
        "/c.csv": b"h\nc\n",
        "/new.csv": b"h\nnew\n",
    }
    assert api.inspect_commit("r", "main").parents == (main, dev)
    assert ids(api, "r")[:2] == [c.id, main]  # log follows first parents
    assert [(d.path, d.status) for d in api.diff("r", "main")] == [("/a.csv", "modified")]
    assert [(d.path, d.status) for d in api.diff("r", f"{dev}", "main")] == [("/new.csv", "added")]
    rb = api.rollback("r", "main", to="main^")
    assert rb.tree == api.inspect_commit("r", main).tree
    assert api.lineage("r", c.id).root.commit == c.id
    assert api.reflog("r", "main")[1].why.startswith("merge commit")
    assert_fsck_clean(api)


def conflicting(api: Client) -> None:
    """Repo ``r`` whose ``dev`` and ``main`` conflict in every way there is."""
    api.create_repo("r")
    with api.commit("r", "main", "base") as tx:
        tx.put_file("/both.csv", b"base")
        tx.put_file("/moddel.csv", b"base")
        tx.put_file("/dir/x", b"base")
        tx.put_file("/calm.csv", b"base")
    api.create_branch("r", "dev")
    with api.commit("r", "dev", "dev side") as tx:
        tx.put_file("/both.csv", b"dev!")
        tx.delete_file("/moddel.csv")
        tx.put_file("/added.csv", b"dev version")
        tx.put_file("/f/inner", b"dev made f a directory")
        tx.delete_file("/dir/x")
        tx.put_file("/dir", b"dev made dir a file")
        tx.put_file("/dev-only", b"d")
    with api.commit("r", "main", "main side") as tx:
        tx.put_file("/both.csv", b"main")
        tx.put_file("/moddel.csv", b"main changed it")
        tx.put_file("/added.csv", b"main version!")
        tx.put_file("/f", b"main made f a file")
        tx.put_file("/dir/y", b"main added below dir")
        tx.put_file("/main-only", b"m")


def test_conflicts_of_every_kind_refuse_and_list_both_sides(both: Client) -> None:
    conflicting(both)
    before = snapshot_state(both)
    with pytest.raises(MergeConflicts) as err:
        both.merge("r", "dev", "main")
    found = {c.path: c for c in err.value.conflicts}  # type: ignore[attr-defined]
    assert set(found) == {"/both.csv", "/moddel.csv", "/added.csv", "/f", "/dir"}
    assert {p: c.kind for p, c in found.items()} == {
        "/both.csv": "content",
        "/moddel.csv": "content",
        "/added.csv": "content",
        "/f": "file/directory",
        "/dir": "file/directory",
    }
    same = found["/both.csv"]
    assert (same.ours_size, same.theirs_size, same.base_size) == (4, 4, 4)
    assert same.ours_hash and same.theirs_hash and same.ours_hash != same.theirs_hash
    assert (found["/moddel.csv"].theirs_hash, found["/moddel.csv"].ours_size) == (None, 15)
    assert "/both.csv (content: ours 4 B" in str(err.value) and "/dir (file/directory" in str(err.value)
    assert snapshot_state(both) == before  # nothing written
    dry = both.merge("r", "dev", "main", dry_run=True)
    assert dry.result == "conflict" and [c.path for c in dry.conflicts] == sorted(found)
    assert snapshot_state(both) == before

    theirs = both.merge("r", "dev", "main", strategy="theirs")
    assert dict(theirs.resolved) == {p.lstrip("/"): "theirs" for p in found}
    got = files_of(both, "r")
    assert got == {
        "/both.csv": b"dev!",
        "/added.csv": b"dev version",
        "/f/inner": b"dev made f a directory",
        "/dir": b"dev made dir a file",
        "/calm.csv": b"base",
        "/dev-only": b"d",
        "/main-only": b"m",
    }
    assert_fsck_clean(both)


def test_strategy_ours_and_per_path_globs(api: Client) -> None:
    conflicting(api)
    api.create_branch("r", "copy", "main")
    ours = api.merge("r", "dev", "main", strategy="ours")
    got = files_of(api, "r")
    assert got["/both.csv"] == b"main" and got["/f"] == b"main made f a file" and got["/dev-only"] == b"d"
    assert got["/dir/y"] == b"main added below dir" and "/dir" not in got
    assert ours.commit is not None and len(ours.commit.parents) == 2
    # Globs decide some paths; the rest still conflict.
    with pytest.raises(MergeConflicts) as err:
        api.merge("r", "dev", "copy", theirs=["*.csv"])
    assert sorted(c.path for c in err.value.conflicts) == ["/dir", "/f"]  # type: ignore[attr-defined]
    m = api.merge("r", "dev", "copy", theirs=["*.csv"], ours=["dir", "f"])
    got = files_of(api, "r", "copy")
    assert got["/both.csv"] == b"dev!" and "/moddel.csv" not in got and got["/f"] == b"main made f a file"
    assert dict(m.resolved)["dir"] == "ours"
    with pytest.raises(InvalidArgument):
        api.merge("r", "dev", "copy", strategy="mine")  # type: ignore[arg-type]


def test_merge_base_after_earlier_merges(api: Client) -> None:
    main, dev = diverged(api)
    api.merge("r", "dev", "main")
    # dev keeps working on a.csv; main changes b.csv; merging again must not see the old change as new
    api.put_file("r", "dev", "/a.csv", b"h\ncleaned a twice\n")
    api.put_file("r", "main", "/b.csv", b"h\nb on main\n")
    second = api.merge("r", "dev", "main")
    assert second.base == dev and second.result == "merged"
    assert files_of(api, "r")["/a.csv"] == b"h\ncleaned a twice\n"
    # and back: main into dev brings b.csv and new.csv, no conflict
    back = api.merge("r", "main", "dev")
    assert back.result == "fast-forward"
    graph = parent_graph(api.context, "r")
    assert merge_base(graph, api.inspect_branch("r", "dev").head or "", main) == main


def test_concurrent_merges_into_one_branch_lose_nothing(both: Client) -> None:
    both.create_repo("r")
    both.put_file("r", "main", "/base", b"base")
    n = 4
    for i in range(n):
        both.create_branch("r", f"b{i}")
        both.put_file("r", f"b{i}", f"/from-b{i}", str(i).encode())
    both.put_file("r", "main", "/main-moved", b"so no merge is a fast-forward")
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            both.merge("r", f"b{i}", "main")
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = files_of(both, "r")
    assert {f"/from-b{i}" for i in range(n)} <= set(got)
    graph = parent_graph(both.context, "r")
    head = both.inspect_branch("r", "main").head
    for i in range(n):
        src = both.inspect_branch("r", f"b{i}").head
        assert src is not None and head is not None and merge_base(graph, head, src) == src


def test_revert_and_cherry_pick(api: Client) -> None:
    _main, dev = diverged(api)
    bad = api.put_file("r", "main", "/b.csv", b"h\nbroken\n", message="break b").id
    api.put_file("r", "main", "/later", b"later")
    rv = api.revert("r", bad)
    assert rv.result == "merged" and rv.commit is not None and rv.commit.branch == "main"
    assert rv.commit.metadata == {"reverted_from": bad} and rv.commit.message.startswith(f"revert {bad[:12]}")
    got = files_of(api, "r")
    assert got["/b.csv"] == b"h\nb\n" and got["/later"] == b"later"
    assert api.revert("r", bad).result == "up-to-date"  # already undone
    cp = api.cherry_pick("r", dev, "main", metadata={"why": "need it"})
    assert cp.commit is not None and cp.commit.parents == (rv.commit.id,)
    assert cp.commit.metadata == {"cherry_picked_from": dev, "why": "need it"}
    assert files_of(api, "r")["/a.csv"] == b"h\ncleaned a\n"
    # conflicts are reported as for merge
    api.put_file("r", "dev", "/new.csv", b"dev's own new.csv")
    with pytest.raises(MergeConflicts) as err:
        api.cherry_pick("r", "dev", "main")
    assert [c.path for c in err.value.conflicts] == ["/new.csv"]  # type: ignore[attr-defined]
    api.put_file("r", "main", "/b.csv", b"changed again since")
    with pytest.raises(MergeConflicts) as err:
        api.revert("r", bad, "main")  # undoing 'break b' meets a newer change of b.csv
    assert [c.path for c in err.value.conflicts] == ["/b.csv"]  # type: ignore[attr-defined]
    assert api.cherry_pick("r", "dev", "main", strategy="theirs").result == "merged"
    with pytest.raises(NotFound):
        api.revert("r", "nosuch")


def test_branch_protection(api: Client) -> None:
    main, _dev = diverged(api)
    info = api.protect_branch("r", "main")
    assert info.protection == "merge" and api.inspect_branch("r", "main").protection == "merge"
    before = snapshot_state(api)
    with pytest.raises(BranchProtected, match="moves only by merge"):
        api.put_file("r", "main", "/x", b"x")
    with pytest.raises(BranchProtected):
        api.rollback("r", "main", to="main~1")
    with pytest.raises(BranchProtected):
        api.revert("r", main, "main")
    assert snapshot_state(api) == before  # no commit, no open commit left behind
    assert api.merge("r", "dev", "main").result == "merged"
    forced = api.put_file("r", "main", "/x", b"x", commit=api.start_commit("r", "main").id)
    api.finish_commit("r", forced.id, force=True)
    # merge-only protection lets reset and delete through; strict does not
    api.protect_branch("r", "main", "strict")
    with pytest.raises(BranchProtected, match="cannot be reset"):
        api.reset_branch("r", "main", main)
    with pytest.raises(BranchProtected, match="cannot be deleted"):
        api.delete_branch("r", "main")
    api.reset_branch("r", "main", main, force=True)
    assert api.inspect_branch("r", "main").head == main
    api.protect_branch("r", "main", "")
    api.put_file("r", "main", "/y", b"y")
    with pytest.raises(InvalidArgument):
        api.protect_branch("r", "main", "sometimes")


def test_commit_metadata(api: Client) -> None:
    api.create_repo("r")
    c = api.start_commit("r", "main", "m", metadata={"run": "kfp-123", "owner": "ana"})
    api.put_file("r", "main", "/x", b"x", commit=c.id)
    done = api.finish_commit("r", c.id, metadata={"run": "kfp-124"})
    assert done.metadata == {"owner": "ana", "run": "kfp-124"}
    assert api.inspect_commit("r", "main").metadata == done.metadata
    assert api.put_file("r", "main", "/y", b"y").metadata == {}
    for bad in ({"bad key": "v"}, {"k": "x" * 5000}, {"k": "a\x00b"}, {f"k{i}": "v" for i in range(65)}):
        with pytest.raises(InvalidArgument):
            api.start_commit("r", "main", metadata=bad)
    assert api.list_open_commits("r") == []


def test_file_history_follows_first_parents_and_copies(api: Client) -> None:
    api.create_repo("r")
    a1 = api.put_file("r", "main", "/raw/a.csv", b"1").id
    api.put_file("r", "main", "/other", b"x")
    a2 = api.put_file("r", "main", "/raw/a.csv", b"2").id
    cp = api.copy_file("r", "main", "/raw/a.csv", "r", "main", "/clean/a.csv")
    assert cp.metadata == {"copied_from": f"r@{a2}:/raw/a.csv", "copied_to": "/clean/a.csv"}
    c2 = api.put_file("r", "main", "/clean/a.csv", b"3").id
    assert [c.id for c in api.log("r", "main", path="/raw/a.csv")] == [a2, a1]
    assert [c.id for c in api.log("r", "main", path="/clean/a.csv")] == [c2, cp.id]
    assert [c.id for c in api.log("r", "main", path="/clean/a.csv", follow=True)] == [c2, cp.id, a2, a1]
    assert [c.id for c in api.log("r", "main", path="/raw")] == [a2, a1]  # a directory's history
    assert [c.id for c in api.log("r", "main", path="/clean", limit=1)] == [c2]
    assert list(api.log("r", "main", path="/nosuch")) == []


def test_pipelines_trigger_on_merge_commits_and_fast_forwards(api: Client) -> None:
    _main, _dev = diverged(api)
    api.create_pipeline(name="p", input={"pfs": {"repo": "r", "glob": "/"}}, transform={"cmd": ["true"]})
    before = {j.id for j in api.list_jobs("p")}
    m = api.merge("r", "dev", "main")
    assert m.commit is not None
    new = [j for j in api.list_jobs("p") if j.id not in before]
    assert [j.trigger_commit for j in new] == [m.commit.id]
    api.create_branch("r", "ff", "main")
    ff_head = api.put_file("r", "ff", "/ff", b"ff").id
    assert api.merge("r", "ff", "main").result == "fast-forward"
    assert api.list_jobs("p")[0].trigger_commit == ff_head
