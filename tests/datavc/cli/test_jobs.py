"""``datavc run`` when the object store fails it: one error line, the storage error's exit code."""

from __future__ import annotations

import json
from pathlib import Path

from datavc import Client
from tests.datavc.cli.helpers import Run, assert_error
from tests.storage.helpers import corrupt_object

SPEC = """\
pipeline: {name: upper}
input: {pfs: {repo: texts, glob: "/*"}}
transform:
  cmd: [sh, -c, 'for f in "$DATAVC_IN"/texts/*; do tr a-z A-Z < "$f" > "$DATAVC_OUT/${f##*/}"; done']
"""


def test_corrupt_datum_output_exits_6_job_not_failed(store: Path, tmp_path: Path, run: Run) -> None:
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "b.txt").write_text("beta\n")
    (tmp_path / "upper.yaml").write_text(SPEC)
    run("repo", "create", "texts")
    run("put", "texts", tmp_path / "a.txt")
    run("pipeline", "create", "-f", tmp_path / "upper.yaml")
    run("run")
    first = json.loads(run("job", "list", "upper", "--json").stdout)[0]
    [datum] = json.loads(run("datum", "list", first["id"], "--json").stdout)
    # The next job skips this datum and reuses its output tree: corrupt that tree object.
    with Client.open(store) as client:
        corrupt_object(client.context.raw_store.backend, datum["output_tree"])
    run("put", "texts", tmp_path / "b.txt")

    err = assert_error(run("run", code=None), 6)
    assert datum["output_tree"] in err and "corrupt" in err

    # The job was not marked failed: it stays claimed until its lease expires, then resumes.
    second = json.loads(run("job", "list", "upper", "--json").stdout)[0]
    assert second["id"] != first["id"] and second["state"] == "running"
    log = json.loads(run("log", "upper@main", "--json").stdout)
    assert [c["id"] for c in log] == [first["output_commit"]]  # the output branch did not move
