"""The merge/revert/cherry-pick/protection/metadata contract: direct and remote client, SQLite and PostgreSQL.

Also: forcing past a branch's protection needs the owner role on the server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from datavc import errors
from datavc.client import Client
from datavc.remote import RemoteClient
from tests.datavc.server.conftest import Server, start_server
from tests.datavc.server.test_contract import api  # noqa: F401  (the fixture: four clients)


def test_merge_revert_cherry_pick_protection_and_metadata(api: Client) -> None:  # noqa: F811
    api.create_repo("r")
    base = api.put_file("r", "main", "/a.csv", b"h\n1\n", metadata={"run": "r1"})
    assert base.metadata == {"run": "r1"}
    api.create_branch("r", "dev")
    dev = api.put_file("r", "dev", "/a.csv", b"h\nclean\n").id
    main = api.put_file("r", "main", "/b.csv", b"b").id

    dry = api.merge("r", "dev", "main", dry_run=True)
    assert (dry.result, dry.base, dry.head, dry.changes) == ("merged", base.id, main, 1)
    m = api.merge("r", "dev", "main", metadata={"ticket": "T-1"})
    assert m.commit is not None and m.commit.parents == (main, dev) and m.commit.metadata == {"ticket": "T-1"}
    assert api.inspect_commit("r", "main").parents == (main, dev)
    assert [c.id for c in api.log("r", "main", all_parents=True)] == [m.commit.id, main, dev, base.id]
    assert [c.id for c in api.log("r", where={"run": "r1"})] == [base.id]
    assert [c.id for c in api.log("r", where={"ticket": "T-1"})] == [m.commit.id]
    assert [c.id for c in api.log("r", "main", path="/a.csv")] == [m.commit.id, base.id]
    (inside,) = api.diff_content("r", "main")
    assert (inside.path, inside.kind, inside.lines_added, inside.lines_removed) == ("/a.csv", "csv", 1, 1)

    # conflicts come back with every path and both sides, also through the server
    api.put_file("r", "dev", "/b.csv", b"dev's b")
    api.put_file("r", "main", "/b.csv", b"main's b")
    with pytest.raises(errors.MergeConflicts) as err:
        api.merge("r", "dev", "main")
    (conflict,) = err.value.conflicts
    assert (conflict.path, conflict.ours_size, conflict.theirs_size) == ("/b.csv", 8, 7)  # type: ignore[attr-defined]
    m2 = api.merge("r", "dev", "main", theirs=["*.csv"])
    assert m2.result == "merged" and m2.resolved == (("b.csv", "theirs"),) and m2.commit is not None
    assert api.get_file("r", "main", "/b.csv") == b"dev's b"

    rv = api.revert("r", "main")  # a merge commit is reverted against its first parent
    assert rv.commit is not None and rv.commit.metadata == {"reverted_from": m2.commit.id}
    assert api.get_file("r", "main", "/b.csv") == b"main's b"
    cp = api.cherry_pick("r", dev, "main", strategy="ours", dry_run=True)
    assert cp.dry_run and cp.operation == "cherry-pick"

    assert api.protect_branch("r", "main", "strict").protection == "strict"
    with pytest.raises(errors.Conflict, match="protected"):
        api.put_file("r", "main", "/c", b"c")
    with pytest.raises(errors.Conflict, match="protected"):
        api.delete_branch("r", "main")
    api.reset_branch("r", "main", main, force=True)  # an admin (remote) or the store's user (direct)
    assert api.inspect_branch("r", "main").head == main
    rb = api.rollback("r", "main", to=base.id, force=True, metadata={"why": "bad merge"})
    assert rb.metadata == {"why": "bad merge"}

    # hooks
    api.create_repo("h")
    api.add_hook("h", "guard", "pre-commit", cmd=["sh", "-c", "test ! -e $DATAVC_COMMIT_DIR/bad"], timeout=20)
    assert [(x.name, x.event, x.cmd[0]) for x in api.list_hooks("h")] == [("guard", "pre-commit", "sh")]
    ok = api.put_file("h", "main", "/good", b"1")
    assert [(r.hook, r.passed) for r in api.hook_results("h", ok.id)] == [("guard", True)]
    with pytest.raises(errors.Conflict, match="pre-commit hook 'guard' refused h@main"):
        api.put_file("h", "main", "/bad", b"2")
    api.delete_hook("h", "guard")
    assert api.list_hooks("h") == []


def test_forcing_past_protection_needs_the_owner_role(tmp_path: Path) -> None:
    direct = Client.init(tmp_path / "store")
    srv: Server = start_server(direct)
    try:
        admin = srv.client(srv.admin_token)
        admin.create_repo("r")
        c1 = admin.put_file("r", "main", "/x", b"1").id
        admin.put_file("r", "main", "/x", b"2")
        assert isinstance(admin, RemoteClient)
        admin.create_user("wanda")
        admin.grant_role("r", "wanda", "writer")
        secret = admin.create_token("wanda").secret
        assert secret is not None
        wanda = srv.client(secret)
        with pytest.raises(errors.Forbidden):
            wanda.protect_branch("r", "main")
        admin.protect_branch("r", "main", "strict")
        with pytest.raises(errors.Conflict, match="protected"):
            wanda.reset_branch("r", "main", c1)
        with pytest.raises(errors.Forbidden, match="owner"):
            wanda.reset_branch("r", "main", c1, force=True)
        with pytest.raises(errors.Forbidden, match="owner"):
            wanda.rollback("r", "main", to=c1, force=True)
        admin.grant_role("r", "wanda", "owner")
        assert wanda.reset_branch("r", "main", c1, force=True).head == c1
    finally:
        srv.stop()
        direct.close()
