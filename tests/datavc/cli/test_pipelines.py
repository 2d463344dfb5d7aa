"""A new user's pipelines on an embedded store: specs, run, jobs, datums, logs, lineage, wait, daemon."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.datavc.cli.helpers import Run, assert_error

ID = r"[0-9a-f]{32}"
SHORT = r"[0-9a-f]{12}"

WORDCOUNT_YAML = """\
pipeline:
  name: wordcount
  description: words per file
input:
  pfs: {repo: texts, glob: "/*"}
transform:
  cmd:
    - sh
    - -c
    - for f in "$DATAVC_IN"/texts/*; do wc -w < "$f" > "$DATAVC_OUT/$(basename "$f").count"; done
"""

TOTAL: dict[str, Any] = {
    "pipeline": {"name": "total"},
    "input": {"pfs": {"repo": "wordcount", "glob": "/"}},
    "transform": {
        "cmd": [
            "sh",
            "-c",
            'cat "$DATAVC_IN"/wordcount/*.count | awk \'{s += $1} END {print s}\' > "$DATAVC_OUT/total"',
        ]
    },
}

FAILING_YAML = """\
pipeline: {name: boom}
input: {pfs: {repo: texts, glob: "/*"}}
transform: {cmd: ["sh", "-c", "echo boom >&2; exit 3"]}
datum_tries: 2
"""


def jobs(run: Run, pipeline: str | None = None) -> list[dict[str, Any]]:
    """``job list [PIPELINE] --json``, newest first."""
    args = ("job", "list", *([pipeline] if pipeline else []), "--json")
    doc: list[dict[str, Any]] = json.loads(run(*args).stdout)
    return doc


def outputs(run: Run, repo: str) -> list[tuple[str, str]]:
    """(path, content hash) of every file on ``repo@main``."""
    return [(f["path"], f["hash"]) for f in json.loads(run("ls", f"{repo}@main", "-r", "--json").stdout)]


def counts(job: dict[str, Any]) -> tuple[int, int, int]:
    return job["datums_processed"], job["datums_skipped"], job["datums_failed"]


@pytest.fixture
def texts(store: Path, tmp_path: Path, run: Run) -> Path:
    """Repo ``texts`` with ``a.txt`` (3 words) and ``b.txt`` (2 words) in one commit; returns their dir."""
    d = tmp_path / "texts"
    d.mkdir()
    (d / "a.txt").write_text("one two three\n")
    (d / "b.txt").write_text("four five\n")
    run("repo", "create", "texts")
    run("put", "texts", d / "a.txt", d / "b.txt")
    return d


@pytest.fixture
def specs(tmp_path: Path) -> tuple[Path, Path]:
    """The word-count spec (YAML) and the total spec (JSON) as files."""
    wc = tmp_path / "wordcount.yaml"
    wc.write_text(WORDCOUNT_YAML)
    total = tmp_path / "total.json"
    total.write_text(json.dumps(TOTAL, indent=2))
    return wc, total


def test_help_lists_pipeline_commands(run: Run) -> None:
    out = run("--help").stdout
    for name in ("pipeline", "job", "datum", "run", "daemon", "wait", "lineage"):
        assert re.search(rf"^  {name}\s", out, re.M), name
    sub = run("pipeline", "--help").stdout
    for name in ("create", "update", "list", "inspect", "delete", "stop", "start"):
        assert re.search(rf"^  {name}\s", sub, re.M), name
    sub = run("job", "--help").stdout
    for name in ("list", "inspect", "logs", "wait"):
        assert re.search(rf"^  {name}\s", sub, re.M), name


def test_scenario(texts: Path, specs: tuple[Path, Path], tmp_path: Path, run: Run) -> None:
    wc_spec, total_spec = specs
    created = run("pipeline", "create", "-f", wc_spec)
    assert created.stdout == "created pipeline wordcount (output repo wordcount)\n"
    # Nothing runs the job yet (pipelines.run: daemon, no daemon): the command says what will.
    assert re.fullmatch(
        rf"job {SHORT} of pipeline wordcount queued: run 'datavc run' or start 'datavc daemon'\n",
        created.stderr,
    )
    out = run("pipeline", "create", "-f", total_spec).stdout
    assert out == "created pipeline total (output repo total); no job yet (its inputs have no commits)\n"

    # First run: wordcount over both files, then total over wordcount's output.
    lines = run("run").stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(rf"wordcount  {SHORT}  success  2 processed, 0 skipped, 0 failed", lines[0])
    assert re.fullmatch(rf"total      {SHORT}  success  1 processed, 0 skipped, 0 failed", lines[1])
    assert run("get", "wordcount@main:/a.txt.count").stdout.strip() == "3"
    assert run("get", "wordcount@main:/b.txt.count").stdout.strip() == "2"
    assert run("get", "total@main:/total").stdout == "5\n"
    first_outputs = outputs(run, "wordcount")
    assert run("run").stdout == "nothing to run\n"

    # A third file: only it is processed, the two others are skipped.
    (texts / "c.txt").write_text("six seven eight nine\n")
    run("put", "texts", texts / "c.txt")
    lines = run("run").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["wordcount", "total"]
    assert lines[0].endswith("success  1 processed, 2 skipped, 0 failed")
    assert run("get", "total@main:/total").stdout == "9\n"
    wc_jobs = jobs(run, "wordcount")
    assert len(wc_jobs) == 2 and [j["state"] for j in wc_jobs] == ["success", "success"]
    assert counts(wc_jobs[0]) == (1, 2, 0) and wc_jobs[0]["datums_total"] == 3
    assert counts(wc_jobs[1]) == (2, 0, 0)
    table = run("job", "list", "wordcount").stdout.splitlines()
    assert table[0].split() == [
        "JOB", "PIPELINE", "VERSION", "STATE", "PROCESSED", "SKIPPED", "FAILED", "TOTAL", "CREATED", "TIME",
    ]  # fmt: skip
    assert table[1].startswith(wc_jobs[0]["id"][:12])
    assert table[1].split()[3:8] == ["success", "1", "2", "0", "3"]
    assert len(run("job", "list", "-n", "1").stdout.splitlines()) == 2
    assert len(jobs(run)) == 4

    # Job and datum details.
    job_id = wc_jobs[0]["id"]
    show = run("job", "inspect", job_id[:8]).stdout
    assert re.search(rf"^job:\s+{job_id}$", show, re.M)
    assert re.search(r"^pipeline:\s+wordcount \(version 1\)$", show, re.M)
    assert re.search(r"^datums:\s+3 total: 1 processed, 2 skipped, 0 failed$", show, re.M)
    assert json.loads(run("job", "inspect", job_id, "--json").stdout)["output_commit"]
    datums = run("datum", "list", job_id).stdout.splitlines()
    assert datums[0].split() == ["DATUM", "STATE", "TRIES", "EXIT", "TIME", "INPUTS"]
    assert sorted(row.split()[1] for row in datums[1:]) == ["skipped", "skipped", "success"]
    ran = next(row for row in datums[1:] if " success " in row)
    assert re.fullmatch(rf"{SHORT}  success\s+1\s+0\s+\S+  texts:/c\.txt", ran)
    doc = json.loads(run("datum", "list", job_id, "--json").stdout)
    assert {d["inputs"][0][1].lstrip("/") for d in doc} == {"a.txt", "b.txt", "c.txt"}
    assert run("job", "wait", job_id).stdout.split()[:3] == ["wordcount", job_id[:12], "success"]

    # Lineage: total <- wordcount <- texts, and the datum and input that wrote /total.
    text = run("lineage", "total@main:/total").stdout.splitlines()
    assert re.fullmatch(rf"total@{SHORT} \(pipeline total\)", text[0])
    assert re.fullmatch(rf"  <- wordcount@{SHORT} \(pipeline wordcount\)", text[1])
    assert re.fullmatch(rf"    <- texts@{SHORT} \(user\)", text[2])
    assert re.fullmatch(rf"/total was written by datum {SHORT} from:", text[3])
    assert text[4].startswith("  wordcount:")
    doc = json.loads(run("lineage", "total@main:/total", "--json").stdout)
    assert doc == json.loads(run("lineage", "total@main:/total", "--format", "json").stdout)
    assert doc["direction"] == "upstream" and doc["path"] == "total"
    assert {n["repo"] for n in doc["nodes"]} == {"total", "wordcount", "texts"}
    assert len(doc["edges"]) == 2
    dot = run("lineage", "total@main", "--format", "dot").stdout
    assert dot.startswith("digraph lineage {\n") and dot.endswith("}\n") and dot.count(" -> ") == 2
    mermaid = run("lineage", "total@main", "--format", "mermaid").stdout
    assert mermaid.startswith("graph LR\n") and mermaid.count(" --> ") == 2
    down = run("lineage", "texts@main", "--downstream").stdout.splitlines()
    assert re.fullmatch(rf"texts@{SHORT} \(user\)", down[0])
    assert down[1].startswith("  -> wordcount@") and down[2].startswith("    -> total@")
    assert_error(run("lineage", "total@main", "--json", "--format", "dot", code=2), 2)

    # Roll texts back: nothing is processed again, and the outputs are the first run's.
    run("rollback", "texts@main", "--to", "main~1")
    lines = run("run").stdout.splitlines()
    assert lines[0].endswith("success  0 processed, 2 skipped, 0 failed")
    assert lines[1].endswith("success  0 processed, 1 skipped, 0 failed")
    assert counts(jobs(run, "wordcount")[0]) == (0, 2, 0)
    assert run("get", "total@main:/total").stdout == "5\n"
    assert outputs(run, "wordcount") == first_outputs

    # wait: every job downstream of texts@main's head is done.
    lines = run("wait", "texts@main").stdout.splitlines()
    assert lines[0].split() == ["PIPELINE", "JOB", "STATE"]
    assert [row.split()[::2] for row in lines[1:]] == [["wordcount", "success"], ["total", "success"]]
    assert len(json.loads(run("wait", "texts", "--timeout", "5", "--json").stdout)) == 2

    # Inspect, list, stop, start, update, delete.
    show = run("pipeline", "inspect", "wordcount").stdout
    assert re.search(r"^description:\s+words per file$", show, re.M)
    assert re.search(r"^inputs:\s+texts@main$", show, re.M) and re.search(r"^version:\s+1$", show, re.M)
    assert "spec:\n" in show and "glob: /*" in show
    doc = json.loads(run("pipeline", "inspect", "wordcount", "--json").stdout)
    assert doc["spec"]["input"]["pfs"]["glob"] == "/*" and doc["output_repo"] == "wordcount"
    table = run("pipeline", "list").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "STATE", "VERSION", "INPUTS"]
    assert [row.split()[:4] for row in table[1:]] == [
        ["total", "running", "1", "wordcount@main"],
        ["wordcount", "running", "1", "texts@main"],
    ]
    assert run("pipeline", "stop", "wordcount").stdout == "stopped pipeline wordcount\n"
    assert json.loads(run("pipeline", "inspect", "wordcount", "--json").stdout)["state"] == "stopped"
    assert run("pipeline", "start", "wordcount").stdout == "started pipeline wordcount\n"
    assert [p["state"] for p in json.loads(run("pipeline", "list", "--json").stdout)] == ["running"] * 2

    wc_spec.write_text(WORDCOUNT_YAML.replace("words per file", "word counts"))
    updated = run("pipeline", "update", "-f", wc_spec, "--reprocess")
    assert updated.stdout == "pipeline wordcount at version 2\n"
    assert re.fullmatch(rf"job {SHORT} of pipeline wordcount queued: run 'datavc run' .*\n", updated.stderr)
    run("run")
    latest = jobs(run, "wordcount")[0]
    assert latest["pipeline_version"] == 2 and counts(latest) == (2, 0, 0)
    assert run("get", "total@main:/total").stdout == "5\n"

    assert run("pipeline", "delete", "total").stdout == "deleted pipeline total (output repo total kept)\n"
    assert [p["name"] for p in json.loads(run("pipeline", "list", "--json").stdout)] == ["wordcount"]
    assert run("get", "total@main:/total").stdout == "5\n"
    assert_error(run("pipeline", "inspect", "total", code=3), 3)


def test_failing_pipeline(texts: Path, tmp_path: Path, run: Run) -> None:
    spec = tmp_path / "boom.yaml"
    spec.write_text(FAILING_YAML)
    run("pipeline", "create", "-f", spec)
    result = run("run", code=8)
    assert re.fullmatch(rf"boom  {SHORT}  failure  0 processed, 0 skipped, 2 failed\n", result.stdout)
    err = assert_error(result, 8)
    job_id = jobs(run, "boom")[0]["id"]
    assert err.startswith(f"error: job {job_id} of pipeline boom failed: 2 datum(s) failed")

    logs = run("job", "logs", job_id).stdout
    headers = re.findall(r"^==> datum ([0-9a-f]+) <==$", logs, re.M)
    assert len(headers) == 2 and logs.count("boom\n") == 2
    one = run("job", "logs", job_id, "--datum", headers[1][:12]).stdout
    assert one.startswith(f"==> datum {headers[1]} <==\n") and "boom" in one and headers[0] not in one
    doc = json.loads(run("job", "logs", job_id, "--json").stdout)
    assert [d["datum"] for d in doc] == headers and all("boom" in d["logs"] for d in doc)
    assert_error(run("job", "logs", job_id, "--datum", "ffffffffffff", code=3), 3)

    result = run("job", "wait", job_id, code=8)
    assert result.stdout.split()[:3] == ["boom", job_id[:12], "failure"]
    assert assert_error(result, 8) == err
    assert json.loads(run("job", "wait", job_id, "--json", code=8).stdout)["state"] == "failure"
    assert_error(run("wait", "texts@main", code=8), 8)

    rows = run("datum", "list", job_id).stdout.splitlines()[1:]
    assert len(rows) == 2
    for row in rows:
        assert row.split()[1:4] == ["failed", "2", "3"]
    doc = json.loads(run("datum", "list", job_id, "--json").stdout)
    assert {(d["state"], d["tries"], d["exit_code"]) for d in doc} == {("failed", 2, 3)}
    assert json.loads(run("run", "--json").stdout) == []


@pytest.mark.parametrize(
    ("spec", "code", "message"),
    [
        ("pipeline: [\n", 2, r"invalid pipeline spec: YAML: .*"),
        (
            "pipeline: {name: wc}\ninput: {pfs: {repo: texts}}\ntransform: {cmd: []}\nspeed: 3\n",
            2,
            r"invalid pipeline spec: input\.pfs\.glob: required; transform\.cmd: must not be empty; "
            r"speed: unknown field",
        ),
        ('{"pipeline": {"name": "wc"},', 2, r"invalid pipeline spec: JSON: .*"),
        (
            "pipeline: {name: wc}\ninput: {pfs: {repo: nosuch, glob: /*}}\ntransform: {cmd: [cat]}\n",
            3,
            r"pipeline 'wc': input repo 'nosuch' does not exist",
        ),
        (
            "pipeline: {name: texts2}\ninput: {pfs: {repo: texts2, glob: /*}}\ntransform: {cmd: [cat]}\n",
            2,
            r"invalid pipeline spec: input\.pfs\.repo: a pipeline cannot read its own output repo 'texts2'",
        ),
    ],
    ids=["bad-yaml", "bad-fields", "bad-json", "unknown-repo", "own-output"],
)
def test_create_refuses(texts: Path, tmp_path: Path, run: Run, spec: str, code: int, message: str) -> None:
    path = tmp_path / ("spec.json" if spec.startswith("{") else "spec.yaml")
    path.write_text(spec)
    err = assert_error(run("pipeline", "create", "-f", path, code=code), code)
    assert re.fullmatch(f"error: {message}\n", err), err
    assert json.loads(run("pipeline", "list", "--json").stdout) == []


def test_spec_from_stdin_and_bad_files(texts: Path, tmp_path: Path, run: Run) -> None:
    out = run("pipeline", "create", "-f", "-", input=WORDCOUNT_YAML).stdout
    assert out.startswith("created pipeline wordcount ")
    assert_error(run("pipeline", "create", "-f", "-", input=WORDCOUNT_YAML, code=4), 4)
    err = assert_error(run("pipeline", "create", "-f", tmp_path / "missing.yaml", code=2), 2)
    assert "cannot read pipeline spec" in err and "No such file or directory" in err
    assert_error(run("pipeline", "update", "-f", "-", input=FAILING_YAML, code=3), 3)  # no pipeline boom
    # An unchanged spec makes no new version and no job.
    same = run("pipeline", "update", "-f", "-", input=WORDCOUNT_YAML)
    assert (same.stdout, same.stderr) == ("pipeline wordcount at version 1\n", "")  # nothing queued
    assert len(jobs(run)) == 1


def test_missing_things(store: Path, run: Run) -> None:
    for args in (
        ("pipeline", "inspect", "nope"),
        ("pipeline", "delete", "nope"),
        ("pipeline", "stop", "nope"),
        ("job", "list", "nope"),
        ("job", "inspect", "abcdef123456"),
        ("datum", "list", "abcdef123456"),
        ("job", "wait", "abcdef123456"),
        ("wait", "nope@main"),
        ("lineage", "nope@main"),
    ):
        assert_error(run(*args, code=3), 3)
    assert_error(run("job", "inspect", "abc", code=2), 2)  # prefix too short
    assert run("run").stdout == "nothing to run\n"
    assert run("job", "list").stdout.split() == [
        "JOB", "PIPELINE", "VERSION", "STATE", "PROCESSED", "SKIPPED", "FAILED", "TOTAL", "CREATED", "TIME",
    ]  # fmt: skip


def test_daemon_runs_jobs_and_drains_on_sigterm(texts: Path, specs: tuple[Path, Path], run: Run) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from datavc.cli import main; main()", "daemon", "--poll", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline() == "datavc daemon: processing jobs; SIGTERM to stop\n"
        run("pipeline", "create", "-f", specs[0])
        deadline = time.monotonic() + 60
        while not (js := jobs(run, "wordcount")) or js[0]["state"] != "success":
            assert time.monotonic() < deadline, js
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert re.fullmatch(rf"wordcount  {SHORT}  success  2 processed, 0 skipped, 0 failed\n", out)
    assert err == "datavc daemon: stopped after 1 job (1 succeeded, 0 failed)\n"
    assert run("get", "wordcount@main:/a.txt.count").stdout.strip() == "3"
