"""A Pachyderm habit, ``put REPO@master``, meets datavc's default branch ``main``: a pipeline
that reads the empty ``main`` says how to join them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.datavc.cli.helpers import Run

SPEC = {
    "pipeline": {"name": "edges"},
    "transform": {"cmd": ["sh", "-c", 'cp "$DATAVC_IN"/images/* "$DATAVC_OUT"/']},
    "input": {"pfs": {"repo": "images", "glob": "/*"}},
}


def test_a_pipeline_on_an_empty_main_points_at_the_master_branch_the_data_went_to(
    store: Path, run: Run, tmp_path: Path
) -> None:
    run("repo", "create", "images")
    (tmp_path / "a.txt").write_text("x\n")
    assert run("put", "images@master:/a.txt", tmp_path / "a.txt").stderr == "created branch images@master\n"
    spec = tmp_path / "edges.json"
    spec.write_text(json.dumps(SPEC))
    created = run("pipeline", "create", "-f", spec)
    assert (
        "images@main is empty but images@master has commits: datavc's default branch is 'main', "
        "so set the input's 'branch: master' or put to images@main"
    ) in created.stdout
    # Following the hint: the pipeline reads master, and its job runs.
    spec.write_text(json.dumps({**SPEC, "input": {"pfs": {**SPEC["input"]["pfs"], "branch": "master"}}}))
    run("pipeline", "update", "-f", spec)
    run("run")  # this store queues jobs for 'datavc run' (the fixture's --pipelines-run daemon)
    assert run("get", "edges@main:/a.txt").stdout == "x\n"
