"""``datavc repo delete`` of a repo a pipeline uses, and ``pipeline create`` over a user's repo:
exit codes, one ``error:`` line, and the stopped pipeline's reason in ``pipeline list/inspect``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.datavc.cli.helpers import Run, assert_error


def _spec(tmp_path: Path, name: str) -> Path:
    spec = {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": "src", "glob": "/"}},
        "transform": {"cmd": ["sh", "-c", 'cp -r "$DATAVC_IN/src/." "$DATAVC_OUT/"']},
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def test_pipeline_create_over_a_user_repo_exits_4(store: Path, run: Run, tmp_path: Path) -> None:
    run("repo", "create", "src")
    run("repo", "create", "taken")
    err = assert_error(run("pipeline", "create", "-f", _spec(tmp_path, "taken"), code=4), 4)
    assert "'taken' already exists" in err
    assert json.loads(run("pipeline", "list", "--json").stdout) == []


def test_repo_delete_of_a_used_repo_exits_5_then_force_stops_the_pipeline(
    store: Path, run: Run, tmp_path: Path, data: Path
) -> None:
    run("repo", "create", "src")
    run("put", "src@main:/a.txt", data / "a.txt")
    run("pipeline", "create", "-f", _spec(tmp_path, "p"))
    err = assert_error(run("repo", "delete", "src", code=5), 5)
    assert "pipeline 'p' reads it" in err
    err = assert_error(run("repo", "delete", "p", code=5), 5)
    assert "pipeline 'p' writes it" in err

    run("repo", "delete", "src", "--force")
    (p,) = json.loads(run("pipeline", "list", "--json").stdout)
    assert p["state"] == "stopped" and "input repo 'src' was deleted" in p["reason"]
    assert "stopped (its input repo 'src' was deleted" in run("pipeline", "list").stdout
    assert "reason" in run("pipeline", "inspect", "p").stdout
    assert_error(run("pipeline", "start", "p", code=3), 3)

    run("repo", "create", "src")
    run("put", "src@main:/b.txt", data / "a.txt")
    run("pipeline", "start", "p")
    run("run")
    assert run("ls", "p@main:/", "--json").stdout.count("b.txt") == 1
