"""Helpers shared by the datavc tests: deployments, and reading back what a store holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from datavc.client import Client

#: The three deployments the ``client`` fixture runs every API test on.
DEPLOYMENTS = ["sqlite+local", "postgresql+local", "postgresql+s3"]


def open_deployment(kind: str, root: Path, request: pytest.FixtureRequest) -> Client:
    """``Client.init(root, ...)`` for one deployment kind; PG and S3 are started only when needed."""
    if kind == "sqlite+local":
        return Client.init(root)
    pg: str = request.getfixturevalue("pg_url")
    if kind == "postgresql+local":
        return Client.init(root, db=pg)
    s3: str = request.getfixturevalue("s3_url")
    return Client.init(root, db=pg, objects=s3)


def content(worker: int, j: int) -> bytes:
    """What concurrency writer ``worker`` puts at ``/w{worker}/f{j}`` (``worker_zygote.py``)."""
    return f"writer {worker} file {j}\n".encode() * (1 + j % 3)


def ids(client: Client, repo: str, ref: str = "main") -> list[str]:
    """Commit ids of ``repo``'s log from ``ref``, newest first."""
    return [c.id for c in client.log(repo, ref)]


def files_of(client: Client, repo: str, ref: str = "main") -> dict[str, bytes]:
    """Every file of ``repo@ref`` with its content."""
    return {f.path: client.get_file(repo, ref, f.path) for f in client.walk_files(repo, ref)}


def snapshot_state(client: Client) -> dict[str, Any]:
    """Everything a failed call must leave unchanged: repos, branch heads, tags, logs, files."""
    out: dict[str, Any] = {}
    for r in client.list_repos():
        heads = {b.name: b.head for b in client.list_branches(r.name)}
        out[r.name] = {
            "heads": heads,
            "tags": {t.name: t.commit for t in client.list_tags(r.name)},
            "logs": {b: ids(client, r.name, b) for b, h in heads.items() if h},
            "files": files_of(client, r.name) if heads.get("main") else {},
            "open": [c.id for c in client.list_open_commits(r.name)],
        }
    return out


def assert_fsck_clean(client: Client) -> None:
    report = client.fsck()
    assert report.ok, report


def object_ids(client: Client) -> set[str]:
    """Ids of every object in the client's object store."""
    return set(client.context.store.backend.iter_ids())


#: Runs the CLI in-process, then prints the modules it loaded (JSON) on stderr.
_CLI_PROBE = """
import json, sys
from datavc.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    sys.stdout.flush()
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def cli_modules(home: Path, *args: str) -> tuple[str, set[str]]:
    """``datavc ARGS`` on the store ``home`` in a fresh interpreter: its stdout, and every
    module it imported (what a whole-process start pays for)."""
    env = {**os.environ, "DATAVC_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", _CLI_PROBE, *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout, set(json.loads(done.stderr.strip().splitlines()[-1]))
