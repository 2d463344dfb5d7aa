"""Jobs triggered by a command run inline on an embedded store, or the command says what runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.pipelines import presence
from tests.datavc.cli.helpers import Run, assert_error

SHORT = r"[0-9a-f]{12}"
UPPER = """\
pipeline: {name: upper}
input: {pfs: {repo: texts, glob: "/*"}}
transform:
  cmd: [sh, -c, 'for f in "$DATAVC_IN"/texts/*; do tr a-z A-Z < "$f" > "$DATAVC_OUT/$(basename "$f")"; done']
"""
FAILING = """\
pipeline: {name: broken}
input: {pfs: {repo: texts, glob: "/"}}
transform: {cmd: [sh, -c, "exit 3"]}
"""


@pytest.fixture
def home(tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An embedded store with its default pipelines.run (inline), repo ``texts`` holding a.txt."""
    root = tmp_path / "store"
    doc = json.loads(run("init", root, "--json").stdout)
    assert doc["pipelines_run"] == "inline"
    monkeypatch.setenv("DATAVC_HOME", str(root))
    run("repo", "create", "texts")
    (tmp_path / "a.txt").write_text("hello\n")
    run("put", "texts@main:/a.txt", tmp_path / "a.txt")
    (tmp_path / "upper.yaml").write_text(UPPER)
    (tmp_path / "broken.yaml").write_text(FAILING)
    return root


def test_jobs_run_before_put_and_pipeline_create_return(home: Path, tmp_path: Path, run: Run) -> None:
    out = run("pipeline", "create", "-f", tmp_path / "upper.yaml").stdout.splitlines()
    assert out[0] == "created pipeline upper (output repo upper)"
    assert re.fullmatch(rf"upper  {SHORT}  success  1 processed, 0 skipped, 0 failed", out[1]), out
    assert run("get", "upper@main:/a.txt").stdout == "HELLO\n"

    (tmp_path / "b.txt").write_text("bye\n")
    result = run("put", "texts@main:/b.txt", tmp_path / "b.txt")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("texts@main commit ")
    assert re.fullmatch(rf"upper  {SHORT}  success  1 processed, 1 skipped, 0 failed", lines[1]), lines
    assert result.stderr == ""
    assert run("get", "upper@main:/b.txt").stdout == "BYE\n"
    assert run("run").stdout == "nothing to run\n"
    # --json keeps stdout one JSON document; the job still ran.
    (tmp_path / "c.txt").write_text("sea\n")
    doc = json.loads(run("put", "texts@main:/c.txt", tmp_path / "c.txt", "--json").stdout)
    assert doc["repo"] == "texts"
    assert run("get", "upper@main:/c.txt").stdout == "SEA\n"


def test_a_failed_inline_job_exits_8_and_keeps_the_commit(home: Path, tmp_path: Path, run: Run) -> None:
    err = assert_error(run("pipeline", "create", "-f", tmp_path / "broken.yaml", code=None), 8)
    assert re.fullmatch(r"error: job [0-9a-f]{32} of pipeline broken failed: .*\n", err)
    assert json.loads(run("pipeline", "inspect", "broken", "--json").stdout)["name"] == "broken"
    (tmp_path / "b.txt").write_text("bye\n")
    assert_error(run("put", "texts@main:/b.txt", tmp_path / "b.txt", code=None), 8)
    assert run("get", "texts@main:/b.txt").stdout == "bye\n"  # the put itself was kept


def test_daemon_mode_and_a_running_daemon_say_what_runs_the_jobs(
    home: Path, tmp_path: Path, run: Run
) -> None:
    assert run("config", "set", "pipelines.run", "daemon").stdout == "pipelines.run = daemon\n"
    assert run("config", "get", "pipelines.run").stdout == "daemon\n"
    created = run("pipeline", "create", "-f", tmp_path / "upper.yaml")
    assert created.stdout == "created pipeline upper (output repo upper)\n"
    assert re.fullmatch(
        rf"job {SHORT} of pipeline upper queued: run 'datavc run' or start 'datavc daemon'\n", created.stderr
    )
    assert "success" in run("run").stdout

    run("config", "set", "pipelines.run", "inline")
    with Client.open(home) as c:
        presence.daemon_beat(c.context, None)  # a daemon is running (it beats every 2 s)
    (tmp_path / "b.txt").write_text("bye\n")
    result = run("put", "texts@main:/b.txt", tmp_path / "b.txt")
    assert re.fullmatch(
        rf"job {SHORT} of pipeline upper queued: the running daemon will run it\n", result.stderr
    )
    assert len(result.stdout.splitlines()) == 1  # nothing ran here
    with Client.open(home) as c:
        presence.daemon_gone(c.context)
    assert "'sometimes' is not one of" in run("config", "set", "pipelines.run", "sometimes", code=2).stderr
