"""The CLI on a shared deployment: PostgreSQL metadata and S3 objects."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.datavc.cli.helpers import Run


def test_postgres_s3_scenario(
    pg_url: str, s3_url: str, tmp_path: Path, data: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "shared"
    out = run("init", root, "--db", pg_url, "--objects", s3_url).stdout
    assert f"objects:  {s3_url}" in out and "metadata: postgresql+psycopg://" in out
    monkeypatch.setenv("DATAVC_HOME", str(root))

    run("repo", "create", "sets")
    first = json.loads(run("put", "sets@main:/train/", data, "--json").stdout)
    assert (
        run("ls", "-r", "sets@main:/train").stdout
        == "       6 B  /train/a.txt\n       6 B  /train/sub/b.txt\n"
    )
    assert run("get", "sets:/train/sub/b.txt").stdout == "world\n"

    (data / "a.txt").write_bytes(b"v2 of a\n")
    run("put", "sets:/train/a.txt", data / "a.txt", "-m", "new a")
    assert run("diff", "sets").stdout == "M /train/a.txt (6 B -> 8 B)\n0 added, 1 modified, 0 deleted\n"
    log = run("log", "sets").stdout.splitlines()
    assert len(log) == 2 and log[0].endswith("new a")

    out = run("rollback", "sets@main", "--to", first["id"][:8]).stdout
    assert re.fullmatch(r"sets@main commit [0-9a-f]{32}: .*\n", out)
    assert run("get", "sets:/train/a.txt").stdout == "hello\n"
    assert run("diff", "sets").stdout == "M /train/a.txt (8 B -> 6 B)\n0 added, 1 modified, 0 deleted\n"
