"""``datavc fsck --repair DIR`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from datavc.client import Client
from tests.datavc.cli.helpers import Run, assert_error


def test_fsck_repair_from_a_checkout(store: Path, run: Run, data: Path, tmp_path: Path) -> None:
    run("repo", "create", "r")
    run("put", "r@main", data)
    wc = tmp_path / "wc"
    run("checkout", "r@main", wc)
    with Client.open(store) as c:
        backend: object = c.context.store.backend
        (pack,) = [o for o in c.context.store.backend.iter_ids() if not c.context.store.is_tree(o)]
        path = backend.object_path(pack)  # type: ignore[attr-defined]
    path.chmod(0o644)
    path.write_bytes(b"garbage")
    assert "corrupt object" in run("fsck", code=6).stdout
    assert_error(run("fsck", "--repair", tmp_path / "nowhere", code=2), 2)
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run("fsck", "--repair", empty, code=6).stdout
    assert f"cannot repair object {pack}" in out
    out = run("fsck", "--repair", wc).stdout
    assert f"repaired object {pack}" in out and out.rstrip().endswith(": ok")
    doc = json.loads(run("fsck", "--repair", wc, "--json").stdout)
    assert doc["ok"] and doc["repair"]["repaired"] == []
    assert run("get", "r@main:/sub/b.txt").stdout == "world\n"
