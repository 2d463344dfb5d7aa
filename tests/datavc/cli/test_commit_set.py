"""``datavc commit-set inspect``, ``wait`` on a commit-set id, and ``lineage`` naming the set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.datavc.cli.helpers import Run, assert_error

SHORT = r"[0-9a-f]{12}"
EDGES = """\
pipeline: {name: edges}
input: {pfs: {repo: images, glob: "/*"}}
transform:
  cmd: [sh, -c, 'for f in "$DATAVC_IN"/images/*; do cp "$f" "$DATAVC_OUT/$(basename "$f").edge"; done']
"""


@pytest.fixture
def home(tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    run("init", root)  # embedded: jobs run inline
    monkeypatch.setenv("DATAVC_HOME", str(root))
    run("repo", "create", "images")
    (tmp_path / "edges.yaml").write_text(EDGES)
    run("pipeline", "create", "-f", tmp_path / "edges.yaml")
    return root


def test_commit_set_inspect_wait_and_lineage(home: Path, tmp_path: Path, run: Run) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    out = run("put", "images@main:/a.png", tmp_path / "a.png").stdout.splitlines()
    cid = out[0].split()[2].rstrip(":")
    text = run("commit-set", "inspect", cid[:10]).stdout.splitlines()
    assert text[0] == f"commit set: {cid}"
    assert text[1].startswith("origin:     user commit images@main")
    assert text[3] == "jobs:       1 (0 pending)"
    assert [line.split()[:4] for line in text[5:8]] == [
        ["REPO", "BRANCH", "COMMIT", "ORIGIN"],
        ["images", "main", cid[:12], "user"],
        ["edges", "main", text[7].split()[2], "pipeline"],
    ]
    assert re.fullmatch(rf"edges\s+{SHORT}\s+success\s+1\s+0\s+0\s+-", text[-1])
    doc = json.loads(run("commit-set", "inspect", cid, "--json").stdout)
    assert doc["id"] == cid and [j["state"] for j in doc["jobs"]] == ["success"]
    assert json.loads(run("wait", cid, "--json").stdout)["id"] == cid
    assert (
        run("lineage", "edges@main").stdout.splitlines()[-1]
        == f"commit set {cid} (datavc commit-set inspect)"
    )
    assert json.loads(run("show", "edges@main", "--json").stdout)["commit_set"] == cid
    assert_error(run("commit-set", "inspect", "0" * 32, code=None), 3)
    assert_error(run("wait", "f" * 32, code=None), 3)
