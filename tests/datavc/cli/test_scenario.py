"""A new user's session on an embedded store: init, repos, put, ls, diff, log, tags, rollback, branches."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.datavc.cli.helpers import Run, assert_error

ID = r"[0-9a-f]{32}"
SHORT = r"[0-9a-f]{12}"
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d"


def test_help_lists_commands_and_exit_codes(run: Run) -> None:
    out = run("--help").stdout
    for name in ("init", "repo", "put", "get", "ls", "rm", "cp", "log", "show", "diff", "branch", "tag",
                 "start-commit", "finish-commit", "abort-commit", "rollback", "reflog", "checkout",
                 "status", "commit", "fsck", "gc"):  # fmt: skip
        assert re.search(rf"^  {re.escape(name)}\s", out, re.M), name
    assert "Exit codes:" in out and "130  interrupted" in out and "2    invalid argument" in out
    assert run("--version").stdout.startswith("datavc, version ")


def test_help_does_not_import_heavy_modules() -> None:
    import subprocess
    import sys

    heavy = ("sqlalchemy", "boto3", "datavc.client")
    code = f"import sys, datavc.cli; print(any(m in sys.modules for m in {heavy!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_init_prints_where_and_what(tmp_path: Path, run: Run) -> None:
    out = run("init", tmp_path / "s").stdout.splitlines()
    home = tmp_path / "s" / ".datavc"
    assert out == [
        f"Initialized datavc store in {home}",
        f"metadata: sqlite:///{home / 'metadata.db'}",
        f"objects:  {home / 'objects'}",
        "executor: kind=local",
    ]
    doc = json.loads(run("init", tmp_path / "t", "--json").stdout)
    assert doc["home"] == str(tmp_path / "t" / ".datavc")


def test_scenario(store: Path, data: Path, tmp_path: Path, run: Run) -> None:
    assert run("repo", "create", "images", "-d", "raw images").stdout == "created repo images\n"

    out = run("put", "images", data).stdout
    assert re.fullmatch(rf"images@main commit {ID}: 2 files, 12 B\n", out)
    assert run("ls", "images@main", "-r").stdout == "       6 B  /a.txt\n       6 B  /sub/b.txt\n"
    assert run("ls", "images").stdout == "       6 B  /a.txt\n       6 B  /sub/\n"

    (data / "a.txt").write_bytes(b"changed!\n")
    run("put", "images@main:/a.txt", data / "a.txt", "-m", "change a")
    assert run("diff", "images@main").stdout == "M /a.txt (6 B -> 9 B)\n0 added, 1 modified, 0 deleted\n"
    assert run("diff", "images@main~1", "main").stdout == run("diff", "images@main").stdout

    log = run("log", "images@main").stdout.splitlines()
    assert len(log) == 2
    assert re.fullmatch(rf"{SHORT}  {TIME}  \S+\s+user\s+15 B  change a", log[0])
    assert log[1].endswith("12 B  put /")
    assert run("log", "images", "-n", "1").stdout.splitlines() == log[:1]

    show = run("show", "images@main~1").stdout
    first = re.search(rf"^commit:\s+({ID})$", show, re.M)
    assert first and log[1].startswith(first.group(1)[:12])
    assert re.search(r"^parent:\s+-$", show, re.M) and re.search(r"^files:\s+2$", show, re.M)
    assert re.search(r"^message:\s+put /$", show, re.M)

    assert run("tag", "create", "images@main~1", "v1").stdout == f"tagged images@{first.group(1)} as v1\n"
    tags = run("tag", "list", "images").stdout.splitlines()
    assert tags[0].split() == ["TAG", "COMMIT", "CREATED", "BY"] and tags[1].startswith("v1   ")

    out = run("rollback", "images@main", "--to", "v1").stdout
    assert re.fullmatch(rf"images@main commit {ID}: .*\n", out)
    assert run("get", "images@main:/a.txt").stdout == "hello\n"
    assert run("get", "images@main~1:a.txt").stdout == "changed!\n"

    assert run("branch", "create", "images@dev", "--from", "v1").stdout == (
        f"created branch images@dev at {first.group(1)}\n"
    )
    branches = run("branch", "list", "images").stdout.splitlines()
    assert [b.split()[0] for b in branches] == ["BRANCH", "dev", "main"]
    out = run("branch", "reset", "images@dev", "--to", "images@main").stdout
    assert re.fullmatch(rf"images@dev now at {ID}\n", out)

    reflog = run("reflog", "images@main").stdout.splitlines()
    assert reflog[0].split() == ["WHEN", "OLD", "NEW", "WHO", "WHY"]
    assert len(reflog) == 1 + 4  # create repo, put, put, rollback
    assert "rollback" in reflog[1] and reflog[-1].endswith("create repo")
    assert len(run("reflog", "images@main", "-n", "2").stdout.splitlines()) == 3

    out_dir = tmp_path / "out"
    run("get", "images@v1:/", "-o", out_dir)
    assert (out_dir / "a.txt").read_bytes() == b"hello\n"
    assert (out_dir / "sub" / "b.txt").read_bytes() == b"world\n"
    run("get", "images:/sub/b.txt", "-o", tmp_path / "b-copy")
    assert (tmp_path / "b-copy").read_bytes() == b"world\n"


def test_put_paths(store: Path, data: Path, run: Run) -> None:
    run("repo", "create", "r")
    run("put", "r@main:/x/", data / "a.txt")  # trailing '/': keep the name
    run("put", "r@main:/y.txt", data / "a.txt")  # a file path: rename
    run("put", "r@main:/d", data)  # a directory's contents under /d
    run("put", "r:/more/", data / "a.txt", data / "sub", "-m", "two sources")  # one commit
    assert run("ls", "-r", "r").stdout.split()[2::3] == [
        "/d/a.txt", "/d/sub/b.txt", "/more/a.txt", "/more/b.txt", "/x/a.txt", "/y.txt"
    ]  # fmt: skip
    assert len(run("log", "r").stdout.splitlines()) == 4
    assert run("log", "r", "-n", "1").stdout.rstrip().endswith("two sources")


def test_put_stdin(store: Path, run: Run) -> None:
    run("repo", "create", "r")
    run("put", "r@main:/in/stdin.bin", "-", input=b"\x00piped\xff")
    assert run("get", "r@main:/in/stdin.bin").stdout_bytes == b"\x00piped\xff"


def test_open_commit_workflow(store: Path, data: Path, run: Run) -> None:
    run("repo", "create", "r")
    cid = run("start-commit", "r@main", "-m", "batch").stdout
    assert re.fullmatch(rf"{ID}\n", cid)
    cid = cid.strip()
    run("put", "r", "--commit", cid, data / "a.txt")
    run("put", "r", "--commit", cid, data / "sub")
    assert_error(run("ls", "r", code=None), 3)  # nothing visible before finish: main has no commit yet
    out = run("finish-commit", f"r@{cid}").stdout
    assert out == f"finished {cid} on r@main: 2 files, 12 B\n"
    assert run("ls", "r").stdout == "       6 B  /a.txt\n       6 B  /b.txt\n"

    other = run("start-commit", "r@main").stdout.strip()
    run("put", "r", "--commit", other, data / "a.txt")
    assert run("abort-commit", f"r@{other}").stdout == f"aborted {other}\n"
    assert len(run("log", "r").stdout.splitlines()) == 1


def test_rm_and_cp(store: Path, data: Path, run: Run) -> None:
    run("repo", "create", "r")
    run("repo", "create", "s")
    run("put", "r", data)
    run("cp", "r@main:/sub", "s@main:/copied/")
    run("cp", "r:/a.txt", "s:/renamed.txt")
    assert run("ls", "-r", "s").stdout == "       6 B  /copied/sub/b.txt\n       6 B  /renamed.txt\n"
    out = run("rm", "r:/a.txt", "r:/sub", "-m", "empty it").stdout
    assert re.fullmatch(rf"r@main commit {ID}: 0 files, 0 B\n", out)
    assert run("diff", "r").stdout == "D /a.txt\nD /sub/b.txt\n0 added, 0 modified, 2 deleted\n"
    assert run("diff", "r@main~1", "s@main").stdout == (
        "D /a.txt\nA /copied/sub/b.txt (6 B)\nA /renamed.txt (6 B)\nD /sub/b.txt\n"
        "2 added, 0 modified, 2 deleted\n"
    )


def test_repo_commands(store: Path, data: Path, run: Run) -> None:
    run("repo", "create", "r", "-d", "first")
    run("put", "r", data)
    lines = run("repo", "list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "FILES", "COMMITS", "CREATED", "DESCRIPTION"]
    assert re.fullmatch(rf"r\s+12 B\s+2\s+1\s+{TIME}  first", lines[1])
    inspect = run("repo", "inspect", "r").stdout
    assert re.search(r"^branches:\s+main$", inspect, re.M)
    assert re.search(r"^size:\s+12 B \(12 bytes\)$", inspect, re.M)
    run("repo", "delete", "r", code=None)  # has commits: refused without --force
    assert run("repo", "delete", "r", "--force").stdout == "deleted repo r\n"
    assert run("repo", "list").stdout.splitlines()[1:] == []


def test_tags_and_branches_delete(store: Path, data: Path, run: Run) -> None:
    run("repo", "create", "r")
    run("put", "r", data)
    run("tag", "create", "r", "v1")
    assert run("tag", "delete", "r@v1").stdout == "deleted tag r@v1\n"
    run("branch", "create", "r@dev")
    assert run("branch", "delete", "r@dev").stdout == "deleted branch r@dev\n"
    assert [b.split()[0] for b in run("branch", "list", "r").stdout.splitlines()] == ["BRANCH", "main"]


def test_checkout_status_commit(store: Path, data: Path, tmp_path: Path, run: Run) -> None:
    run("repo", "create", "r")
    run("put", "r", data)
    wd = tmp_path / "wd"
    out = run("checkout", "r@main", wd).stdout
    assert re.fullmatch(rf"checked out r@main \({ID}\) in .*: 2 written, 0 deleted, 0 unchanged\n", out)
    assert (wd / "sub" / "b.txt").read_bytes() == b"world\n"
    assert run("status", wd).stdout.splitlines()[1:] == ["nothing to commit"]
    (wd / "new.txt").write_bytes(b"new\n")
    (wd / "a.txt").unlink()
    assert run("status", wd).stdout.splitlines()[1:] == ["D /a.txt", "A /new.txt (4 B)"]
    out = run("commit", wd, "-m", "from the checkout").stdout
    assert re.fullmatch(rf"r@main commit {ID}: 2 files, 10 B\n", out)
    assert run("get", "r:/new.txt").stdout == "new\n"
    assert run("status", wd).stdout.splitlines()[1:] == ["nothing to commit"]


def test_fsck_and_gc(store: Path, data: Path, run: Run) -> None:
    run("repo", "create", "r")
    run("put", "r", data)
    out = run("fsck").stdout
    assert re.fullmatch(r"checked 1 commits, \d+ objects \(.*\): ok\n", out)
    out = run("gc", "--dry-run", "--grace", "0s").stdout
    assert out.startswith("would delete 0 objects")
    assert run("gc", "--grace", "1d").stdout.startswith("deleted 0 objects")
