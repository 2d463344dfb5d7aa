"""``ls`` and ``status`` build their values without importing the two dozen other ``...Info`` classes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datavc import Client, info, info_core

PROBE = """
import json, sys
from datavc.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    sys.stdout.flush()
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _run(home: Path, *args: str) -> tuple[str, set[str]]:
    env = {**os.environ, "DATAVC_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout, set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("info-core") / "store"
    with Client.init(root) as c:
        c.create_repo("r")
        c.put_file("r", "main", "/d/a.txt", b"a")
        c.checkout("r", "main", root.parent / "co")
    return root


def test_ls_and_status_do_not_import_datavc_info(home: Path) -> None:
    out, modules = _run(home, "ls", "r@main:/d")
    assert "/d/a.txt" in out
    assert "datavc.info" not in modules  # ~25 frozen dataclasses: ~40 ms of every start
    out, modules = _run(home, "status", str(home.parent / "co"))
    assert "nothing to commit" in out
    assert "datavc.info" not in modules


def test_datavc_info_still_exports_the_light_values() -> None:
    for name in ("FileInfo", "StatusInfo", "DiffInfo", "_Info"):
        assert getattr(info, name) is getattr(info_core, name)
    added = info.DiffInfo("/a", "added", None, 1, None, None)
    status = info.StatusInfo("/co", "r", "main", "c" * 32, (added,))
    assert status.to_json()["changes"] == [
        {"path": "/a", "status": "added", "old_size": None, "new_size": 1, "old_hash": None, "new_hash": None}
    ]
    assert not status.clean
