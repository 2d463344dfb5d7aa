"""``--json``: one JSON document on stdout for every command that shows data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.datavc.cli.helpers import Run


def doc(run: Run, *args: str | Path, input: bytes | None = None) -> Any:
    return json.loads(run(*args, "--json", input=input).stdout)


def test_every_command_json(store: Path, data: Path, tmp_path: Path, run: Run) -> None:
    assert doc(run, "repo", "create", "r", "-d", "d")["name"] == "r"
    put = doc(run, "put", "r", data)
    assert (put["file_count"], put["size"], put["state"]) == (2, 12, "finished")
    assert [r["name"] for r in doc(run, "repo", "list")] == ["r"]
    assert doc(run, "repo", "inspect", "r")["size"] == 12

    listing = doc(run, "ls", "r", "-r")
    assert [(f["path"], f["size"], f["kind"]) for f in listing] == [
        ("/a.txt", 6, "file"),
        ("/sub/b.txt", 6, "file"),
    ]
    assert [f["kind"] for f in doc(run, "ls", "r")] == ["file", "dir"]
    assert doc(run, "ls", "r:/sub/b.txt")[0]["path"] == "/sub/b.txt"

    (data / "a.txt").write_bytes(b"changed!\n")
    second = doc(run, "put", "r:/a.txt", data / "a.txt")
    assert second["parent"] == put["id"]
    assert doc(run, "diff", "r") == [
        {
            "path": "/a.txt",
            "status": "modified",
            "old_size": 6,
            "new_size": 9,
            "old_hash": listing[0]["hash"],
            "new_hash": doc(run, "ls", "r:/a.txt")[0]["hash"],
        }
    ]
    assert doc(run, "diff", "r@main~1", "main")[0]["status"] == "modified"
    assert [c["id"] for c in doc(run, "log", "r")] == [second["id"], put["id"]]
    assert doc(run, "show", "r@main~1")["id"] == put["id"]

    assert doc(run, "tag", "create", "r@main~1", "v1")["commit"] == put["id"]
    assert [t["name"] for t in doc(run, "tag", "list", "r")] == ["v1"]
    rb = doc(run, "rollback", "r@main", "--to", "v1")
    assert (rb["origin"], rb["parent"]) == ("rollback", second["id"])
    assert doc(run, "branch", "create", "r@dev", "--from", "v1")["head"] == put["id"]
    assert doc(run, "branch", "reset", "r@dev", "--to", "main")["head"] == rb["id"]
    assert [b["name"] for b in doc(run, "branch", "list", "r")] == ["dev", "main"]
    reflog = doc(run, "reflog", "r@main")
    assert reflog[0]["new"] == rb["id"] and set(reflog[0]) >= {"old", "new", "who", "why", "at"}

    opened = doc(run, "start-commit", "r@main", "-m", "m")
    assert opened["state"] == "open"
    assert doc(run, "put", "r", "--commit", opened["id"], data / "sub")["id"] == opened["id"]
    assert doc(run, "finish-commit", f"r@{opened['id']}")["state"] == "finished"
    assert doc(run, "rm", "r:/b.txt")["file_count"] == 2
    assert doc(run, "cp", "r:/a.txt", "r:/c.txt")["file_count"] == 3
    assert doc(run, "put", "r:/s.txt", "-", input=b"stdin")["file_count"] == 4

    wd = tmp_path / "wd"
    co = doc(run, "checkout", "r@main", wd)
    assert (co["files_written"], co["branch"]) == (4, "main")
    (wd / "z.txt").write_bytes(b"z")
    st = doc(run, "status", wd)
    assert [(c["status"], c["path"]) for c in st["changes"]] == [("added", "/z.txt")]
    assert doc(run, "commit", wd, "-m", "z")["file_count"] == 5

    assert doc(run, "init", tmp_path / "other")["objects"].endswith("objects")


def test_json_empty_list_and_errors(store: Path, run: Run) -> None:
    assert doc(run, "repo", "list") == []
    run("repo", "create", "r")
    result = run("ls", "r", "--json", code=3)  # no commits yet: nothing on stdout
    assert result.stdout == ""


def test_fsck_gc_json(store: Path, data: Path, run: Run) -> None:
    run("repo", "create", "r")
    run("put", "r", data)
    fsck = doc(run, "fsck")
    assert fsck["ok"] is True and fsck["commits_checked"] == 1
    gc = doc(run, "gc", "--dry-run")
    assert gc["dry_run"] is True and gc["objects_deleted"] == 0
