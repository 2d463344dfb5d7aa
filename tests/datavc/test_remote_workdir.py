"""Working copies through the server (``datavc/remote_workdir.py``): the same contract as direct.

Each test runs against the direct client and the remote client (a real server on
127.0.0.1), so checkout, status and commit behave the same either way, errors included.
The working-copy logic is client-side, so one metadata database (SQLite) is enough here;
the contract suite covers the API on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc import errors
from datavc.client import Client
from datavc.remote_workdir import _checked, algorithm_of
from tests.datavc.helpers import files_of
from tests.datavc.server.conftest import start_server


@pytest.fixture(params=["direct", "remote"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    direct = Client.init(tmp_path / "store")
    if request.param == "direct":
        yield direct
        direct.close()
        return
    srv = start_server(direct)
    try:
        yield srv.client(srv.admin_token)
    finally:
        srv.stop()
        direct.close()


def test_checkout_status_commit_and_their_errors(api: Client, tmp_path: Path) -> None:
    api.create_repo("r")
    with api.commit("r") as tx:
        tx.put_file("/a.txt", b"a")
        tx.put_file("/sub/b.txt", b"b")
        tx.put_file("/sub/c.txt", b"c")
    wd = tmp_path / "wd"
    co = api.checkout("r", "main", wd)
    assert (co.files_written, co.files_deleted, co.branch) == (3, 0, "main")
    assert (wd / "sub" / "b.txt").read_bytes() == b"b"
    assert api.status(wd).clean

    (wd / "a.txt").write_bytes(b"a changed")
    (wd / "sub" / "c.txt").unlink()
    (wd / "new").mkdir()
    (wd / "new" / "d.txt").write_bytes(b"d")
    st = api.status(wd / "sub")  # found from a subdirectory
    assert {(c.path, c.status) for c in st.changes} == {
        ("/a.txt", "modified"),
        ("/sub/c.txt", "deleted"),
        ("/new/d.txt", "added"),
    }
    with pytest.raises(errors.Conflict):
        api.checkout("r", "main", wd)  # a dirty tree is not overwritten
    done = api.commit_workdir(wd, "local edits", metadata={"k": "v"})
    assert (done.message, done.state) == ("local edits", "finished")
    assert files_of(api, "r") == {"/a.txt": b"a changed", "/sub/b.txt": b"b", "/new/d.txt": b"d"}
    assert api.status(wd).clean
    with pytest.raises(errors.InvalidArgument):
        api.commit_workdir(wd)  # nothing to commit

    # Back to the first commit: only the differing files are touched.
    back = api.checkout("r", "main^", wd)
    assert (back.branch, back.files_written, back.files_deleted) == (None, 2, 1)
    assert (wd / "sub" / "c.txt").read_bytes() == b"c" and not (wd / "new").exists()
    (wd / "x").write_bytes(b"x")
    with pytest.raises(errors.InvalidArgument):
        api.commit_workdir(wd)  # checked out from a commit, not a branch
    forced = api.checkout("r", "main", wd, force=True)
    assert forced.branch == "main" and (wd / "a.txt").read_bytes() == b"a changed"

    with pytest.raises(errors.NotFound):
        api.checkout("r", "no-such-branch", tmp_path / "wd3")
    with pytest.raises(errors.NotFound):
        api.checkout("nope", "main", tmp_path / "wd4")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_bytes(b"f")
    with pytest.raises(errors.InvalidArgument):
        api.checkout("r", "main", tmp_path / "full")
    with pytest.raises(errors.InvalidArgument):
        api.status(tmp_path / "full")  # not a checkout


def test_branch_moved_refused_then_rebased(api: Client, tmp_path: Path) -> None:
    api.create_repo("r")
    api.put_file("r", "main", "/base.txt", b"base")
    wd = tmp_path / "wd"
    api.checkout("r", "main", wd)
    api.put_file("r", "main", "/theirs.txt", b"theirs")  # another writer
    (wd / "mine.txt").write_bytes(b"mine")
    with pytest.raises(errors.BranchMoved):
        api.commit_workdir(wd)
    assert api.list_open_commits("r") == []
    info = api.commit_workdir(wd, rebase=True)
    assert files_of(api, "r") == {"/base.txt": b"base", "/theirs.txt": b"theirs", "/mine.txt": b"mine"}
    assert (wd / "theirs.txt").read_bytes() == b"theirs"
    st = api.status(wd)
    assert st.clean and st.commit == info.id


def test_many_files_come_in_one_batch_and_update_in_place(api: Client, tmp_path: Path) -> None:
    api.create_repo("r")
    with api.commit("r") as tx:
        for i in range(33):
            tx.put_file(f"/d{i % 3}/f{i}.txt", f"file {i}".encode())
    wd = tmp_path / "wd"
    assert api.checkout("r", "main", wd).files_written == 33
    for i in range(0, 33, 2):
        (wd / f"d{i % 3}" / f"f{i}.txt").write_bytes(b"changed")
    api.commit_workdir(wd, "half")
    other = tmp_path / "other"
    api.checkout("r", "main^", other)
    again = api.checkout("r", "main", other)
    assert (again.files_written, again.files_unchanged) == (17, 16)
    assert (other / "d0" / "f0.txt").read_bytes() == b"changed"
    assert api.status(other).clean


def test_content_that_does_not_match_its_listed_hash_is_refused() -> None:
    alg = algorithm_of("0" * 32)
    good = alg.digest(b"abc")
    assert b"".join(_checked([b"a", b"bc"], alg, good, "r@c:/f")) == b"abc"
    with pytest.raises(errors.Integrity, match="r@c:/f"):
        b"".join(_checked([b"abd"], alg, good, "r@c:/f"))
    with pytest.raises(errors.InvalidArgument):
        algorithm_of("xyz")


def test_cli_checkout_status_commit_through_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from datavc.cli import main

    direct = Client.init(tmp_path / "store")
    srv = start_server(direct)
    try:
        monkeypatch.setenv("DATAVC_SERVER", srv.url)
        monkeypatch.setenv("DATAVC_TOKEN", srv.admin_token)

        def datavc(*args: str, code: int = 0) -> tuple[str, str]:
            result = CliRunner().invoke(main, list(args), catch_exceptions=False)
            assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
            return result.stdout, result.stderr

        direct.create_repo("r")
        direct.put_file("r", "main", "/a.txt", b"a")
        wd = tmp_path / "wd"
        datavc("checkout", "r@main", str(wd))
        (wd / "a.txt").write_bytes(b"changed")
        out, _ = datavc("status", str(wd), "--json")
        assert '"/a.txt"' in out and "modified" in out
        _, err = datavc("checkout", "r@main", str(wd), code=5)  # dirty tree
        assert err.startswith("error: ") and err.count("\n") == 1 and "local changes" in err
        _, err = datavc("checkout", "r@nope", str(tmp_path / "wd2"), code=3)  # missing ref
        assert err.startswith("error: ") and err.count("\n") == 1
        direct.put_file("r", "main", "/b.txt", b"b")  # the branch moves
        _, err = datavc("commit", str(wd), "-m", "edit", code=5)
        assert err.startswith("error: ") and "--rebase" in err and err.count("\n") == 1
        datavc("commit", str(wd), "-m", "edit", "--rebase")
        assert direct.get_file("r", "main", "/a.txt") == b"changed"
        assert (wd / "b.txt").read_bytes() == b"b"
    finally:
        srv.stop()
        direct.close()
