"""Errors: one ``error: ...`` line on stderr and the category's exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from datavc.cli import main
from tests.datavc.cli.helpers import Run, assert_error


@pytest.fixture
def repo(store: Path, data: Path, run: Run) -> str:
    run("repo", "create", "r")
    run("put", "r", data)
    return "r"


def test_no_store(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert "datavc init" in assert_error(run("repo", "list", code=None), 3)
    assert_error(run("--home", tmp_path / "nowhere", "repo", "list", code=None), 3)


def test_invalid_repo_name(store: Path, run: Run) -> None:
    assert "invalid repo name" in assert_error(run("repo", "create", "bad name", code=None), 2)
    assert_error(run("ls", "bad/name@main", code=None), 2)


def test_missing_repo(store: Path, run: Run) -> None:
    assert_error(run("repo", "inspect", "nope", code=None), 3)
    assert_error(run("log", "nope@main", code=None), 3)


def test_repo_exists(store: Path, run: Run) -> None:
    run("repo", "create", "r")
    assert "already exists" in assert_error(run("repo", "create", "r", code=None), 4)


def test_put_into_finished_commit(repo: str, data: Path, run: Run) -> None:
    cid = run("start-commit", "r@main").stdout.strip()
    run("finish-commit", f"r@{cid}")
    assert_error(run("put", "r", "--commit", cid, data / "a.txt", code=None), 5)


def test_path_traversal(repo: str, data: Path, run: Run) -> None:
    assert_error(run("put", "r@main:/../x", data / "a.txt", code=None), 2)
    assert_error(run("get", "r@main:a/../../etc/passwd", code=None), 2)


def test_missing_ref_and_path(repo: str, run: Run) -> None:
    assert "not found" in assert_error(run("ls", "r@nope", code=None), 3)
    assert_error(run("get", "r@main:/missing.txt", code=None), 3)
    assert_error(run("show", "r@main~5", code=None), 3)


def test_bad_refs_and_addresses(repo: str, run: Run) -> None:
    assert_error(run("log", "r@main~x", code=None), 2)
    assert_error(run("get", "r@main", code=None), 2)  # needs a path
    assert_error(run("show", "r@main:/a.txt", code=None), 2)  # takes no path


def test_branch_delete_missing(repo: str, run: Run) -> None:
    assert "branch 'nope'" in assert_error(run("branch", "delete", "r@nope", code=None), 3)


def test_across_repos(repo: str, run: Run) -> None:
    run("repo", "create", "s")
    assert "across repos" in assert_error(run("rollback", "r@main", "--to", "s@main", code=None), 2)
    assert "across repos" in assert_error(run("branch", "reset", "r@main", "--to", "s@main", code=None), 2)
    assert "across repos" in assert_error(run("branch", "create", "r@dev", "--from", "s@main", code=None), 2)


def test_local_paths(repo: str, tmp_path: Path, run: Run) -> None:
    missing = tmp_path / "missing"
    err = assert_error(run("put", "r", missing, code=None), 2)
    assert err == f"error: {missing}: no such file or directory\n"
    assert_error(run("put", "r", "-", input=b"x", code=None), 2)  # stdin needs a file path


def test_get_directory_to_stdout(repo: str, run: Run) -> None:
    assert_error(run("get", "r@main:/sub", code=None), 2)


def test_commit_outside_checkout(store: Path, tmp_path: Path, run: Run) -> None:
    result = run("commit", tmp_path, "-m", "x", code=None)
    assert_error(result, result.exit_code)
    assert result.exit_code in (2, 3)


def test_bad_grace(store: Path, run: Run) -> None:
    for bad in ("5x", "", "h", "1h-"):
        assert "--grace" in assert_error(run("gc", "--grace", bad, code=None), 2)


def test_usage_error_is_exit_2(store: Path, run: Run) -> None:
    result = run("repo", "create", code=None)
    assert result.exit_code == 2 and "Missing argument" in result.stderr


def test_fsck_reports_missing_objects(repo: str, store: Path, run: Run) -> None:
    objects = [p for p in (store / ".datavc" / "objects" / "objects").rglob("*") if p.is_file()]
    assert objects
    for p in objects:
        p.unlink()
    result = run("fsck", code=None)
    assert_error(result, 6)
    assert "missing object" in result.stdout


def test_interrupt_exits_130(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datavc.client import Client

    def interrupted(self: Client) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "list_repos", interrupted)
    result = CliRunner().invoke(main, ["repo", "list"])
    assert (result.exit_code, result.stderr) == (130, "error: interrupted\n")
