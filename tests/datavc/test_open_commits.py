"""Open commits: a SIGKILLed put leaves one; it is listed, expires, and gc aborts it and frees its objects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from datavc.cli import main
from datavc.client import Client
from datavc.errors import CommitExpired
from tests.datavc.cli.helpers import assert_error

DATAVC = str(Path(sys.executable).parent / "datavc")


def _kill_a_put(home: Path) -> str:
    """Start ``datavc put`` reading stdin, wait until its commit is open, SIGKILL it; the commit id."""
    proc = subprocess.Popen(
        [DATAVC, "--home", str(home), "put", "r@main:/big", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(os.urandom(3 * 1024 * 1024))  # uploaded chunks, never committed
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        with Client.open(home) as c:
            while not c.open_commits("r"):
                assert time.monotonic() < deadline, "the put never opened its commit"
                time.sleep(0.05)
            time.sleep(0.5)  # let it upload some chunks
            (opened,) = c.open_commits("r")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdin.close()
    assert proc.returncode == -signal.SIGKILL
    return opened.commit.id


def test_open_commit_of_a_killed_put_is_listed_then_expires_and_gc_frees_it(tmp_path: Path) -> None:
    runner = CliRunner()
    home = tmp_path / "s"
    assert runner.invoke(main, ["init", str(home), "--open-commit-max-age", "3s"]).exit_code == 0
    with Client.open(home) as c:
        c.create_repo("r")
        c.put_file("r", "main", "/keep", b"kept")
    cid = _kill_a_put(home)

    def cli(*args: str) -> str:
        result = runner.invoke(main, ["--home", str(home), *args])
        assert result.exit_code == 0, (args, result.output)
        return result.stdout

    assert cid in cli("repo", "inspect", "r")
    assert json.loads(cli("repo", "inspect", "r", "--json"))["open_commits"] == [cid]
    assert cid[:12] in cli("log", "r", "--open") and "expires" in cli("log", "r", "--open")
    (doc,) = json.loads(cli("log", "r", "--open", "--json"))
    assert doc["id"] == cid and doc["state"] == "open" and doc["expired"] is False
    assert cid not in cli("log", "r")  # the history shows finished commits only

    # Not expired yet: gc keeps it and everything it pins.
    cli("gc", "--grace", "3s")
    with Client.open(home) as c:
        assert [o.commit.id for o in c.open_commits("r")] == [cid]
    time.sleep(3.5)
    (doc,) = json.loads(cli("log", "r", "--open", "--json"))
    assert doc["expired"] is True
    # An expired commit can no longer be finished (exit 5) ...
    assert_error(runner.invoke(main, ["--home", str(home), "finish-commit", f"r@{cid}"]), 5)
    # ... and gc aborts it, then frees its objects.
    with Client.open(home) as c:
        before = c.gc(dry_run=True, grace=timedelta(seconds=3))
        assert before.open_commits_expired == 1
    out = cli("gc", "--grace", "3s")
    assert "aborted 1 expired open commits" in out
    assert cli("log", "r", "--open").strip() == ""
    assert json.loads(cli("repo", "inspect", "r", "--json"))["open_commits"] == []
    with Client.open(home) as c:
        assert c.get_file("r", "main", "/keep") == b"kept"
        left = c.gc(dry_run=True, grace=timedelta(0))
        assert left.objects_deleted == 0, left  # nothing of the killed put is left behind
        assert c.fsck().ok


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_expired_commit_cannot_be_written_or_finished(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    db = request.getfixturevalue("pg_url") if kind == "postgresql" else None
    c = Client.init(tmp_path / "s", db=db, open_commit_max_age=timedelta(seconds=1))
    c.create_repo("r")
    opened = c.start_commit("r")
    c.put_file("r", "main", "/a", b"in time", commit=opened.id)
    time.sleep(1.2)
    with pytest.raises(CommitExpired):
        c.put_file("r", "main", "/b", b"too late", commit=opened.id)
    with pytest.raises(CommitExpired):
        c.finish_commit("r", opened.id)
    assert [o.expired for o in c.open_commits()] == [True]
    c.abort_commit("r", opened.id)  # aborting is always allowed
    assert c.open_commits() == []
    c.close()
