"""``datavc init`` and opening a store: refusals are one error line, failures leave nothing, no secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.datavc.cli.helpers import Run, assert_error

COMMANDS = [
    ("repo", "list"),
    ("ls", "r@main"),
    ("log", "r"),
    ("fsck",),
    ("gc",),
    ("gc", "--grace", "0s", "--force"),
    ("put", "r@main:/x", "-"),
]


def _init_with_data(run: Run, root: Path, *extra: str) -> None:
    run("init", root, *extra)
    run("--home", root, "repo", "create", "r")
    run("--home", root, "put", "r@main:/a", "-", input=b"precious " * 50)


def test_second_store_on_one_s3_prefix_is_refused_and_gc_cannot_touch_the_first(
    tmp_path: Path, s3_url: str, run: Run
) -> None:
    _init_with_data(run, tmp_path / "a", "--objects", s3_url)
    err = assert_error(run("init", tmp_path / "b", "--objects", s3_url, code=None), 4)
    assert s3_url in err and "not empty" in err
    assert not (tmp_path / "b").exists()
    assert run("--home", tmp_path / "a", "fsck").stdout.rstrip().endswith("ok")
    assert run("--home", tmp_path / "a", "get", "r@main:/a").stdout_bytes == b"precious " * 50


@pytest.mark.parametrize("damage", ["empty", "deleted", "garbage"])
def test_every_command_refuses_a_damaged_sqlite_database(tmp_path: Path, run: Run, damage: str) -> None:
    root = tmp_path / "s"
    _init_with_data(run, root)
    db_file = root / ".datavc" / "metadata.db"
    if damage == "empty":
        db_file.write_bytes(b"")
    elif damage == "deleted":
        db_file.unlink()
    else:
        db_file.write_bytes(os.urandom(64 * 1024))
    objects = sorted(p.name for p in (root / ".datavc" / "objects").rglob("*") if p.is_file())
    for cmd in COMMANDS:
        msg = assert_error(run("--home", root, *cmd, input=b"x", code=None), 6)
        assert "metadata database" in msg, (cmd, msg)
        assert ("corrupt" if damage == "garbage" else "missing or empty") in msg
    assert sorted(p.name for p in (root / ".datavc" / "objects").rglob("*") if p.is_file()) == objects
    if damage != "garbage":
        assert not db_file.exists() or db_file.stat().st_size == 0  # never recreated


def test_store_directory_and_config_are_private(tmp_path: Path, run: Run) -> None:
    old = os.umask(0o022)
    try:
        run("init", tmp_path / "s")
    finally:
        os.umask(old)
    home = tmp_path / "s" / ".datavc"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "config.json").stat().st_mode) == 0o600


def test_password_in_database_url_is_refused_without_echoing_it(tmp_path: Path, run: Run) -> None:
    secret = "Hunter2-@x/y"
    url = f"postgresql://alice:{secret}@db.example:5432/datavc"
    msg = assert_error(run("init", tmp_path / "s", "--db", url, code=None), 2)
    assert secret not in msg and "Hunter2" not in msg
    assert "PGPASSWORD" in msg and "pgpass" in msg and "env:" in msg
    assert not (tmp_path / "s").exists()


def test_database_url_from_an_environment_variable(
    tmp_path: Path, run: Run, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_DATAVC_DB", pg_url)
    run("init", tmp_path / "s", "--db", "env:MY_DATAVC_DB")
    config = (tmp_path / "s" / ".datavc" / "config.json").read_text()
    assert "env:MY_DATAVC_DB" in config and pg_url not in config
    run("--home", tmp_path / "s", "repo", "create", "r")
    assert "r" in run("--home", tmp_path / "s", "repo", "list").stdout
    monkeypatch.delenv("MY_DATAVC_DB")
    msg = assert_error(run("--home", tmp_path / "s", "repo", "list", code=None), 2)
    assert "MY_DATAVC_DB" in msg


def test_failed_init_on_an_unreachable_database_leaves_nothing(tmp_path: Path, run: Run) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/nothing?connect_timeout=2"
    assert_error(run("init", tmp_path / "s", "--db", url, code=None), 7)
    assert not (tmp_path / "s").exists()
    # An existing directory keeps what it had, and only that.
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "notes.txt").write_text("mine")
    assert_error(run("init", tmp_path / "t", "--db", url, code=None), 7)
    assert sorted(os.listdir(tmp_path / "t")) == ["notes.txt"]
    # The retry (with a working database) succeeds.
    run("init", tmp_path / "s")
    run("init", tmp_path / "t")


@pytest.mark.parametrize("where", ["/proc/x", "unwritable", "below a file"])
def test_init_in_an_impossible_place_is_one_error(tmp_path: Path, run: Run, where: str) -> None:
    if where == "unwritable":
        # A read-only directory stops everyone but root; root (as in CI) gets a directory on
        # a read-only file system instead, which stops root too.
        if os.geteuid() == 0:
            target = Path("/sys/datavc-test/s")
        else:
            (tmp_path / "ro").mkdir(mode=0o500)
            target = tmp_path / "ro" / "s"
    elif where == "below a file":
        (tmp_path / "f").write_text("a file, not a directory")
        target = tmp_path / "f" / "s"
    else:
        target = Path(where)
    assert_error(run("init", target, code=None), 2)
    assert not target.exists()


def test_init_with_a_bad_open_commit_max_age_is_one_error(tmp_path: Path, run: Run) -> None:
    for bad in ("0s", "soon", "99999999999w"):
        assert_error(run("init", tmp_path / "s", "--open-commit-max-age", bad, code=None), 2)
        assert not (tmp_path / "s").exists()


def test_doctor_masks_the_password(tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-pw"
    monkeypatch.setenv("DATAVC_DB", f"postgresql://bob:{secret}@127.0.0.1:1/x?connect_timeout=1")
    monkeypatch.setenv("DATAVC_OBJECTS", str(tmp_path / "objects"))
    result = run("doctor", code=None)
    assert result.exit_code != 0
    assert secret not in result.stdout and secret not in result.stderr
