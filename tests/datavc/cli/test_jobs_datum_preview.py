"""``datavc datum list -f SPEC``: a spec's datums over the current heads, nothing run or recorded
(``datavc.pipelines.preview``); ``job stop|kill|restart`` and ``datum restart`` from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from datavc.client import Client
from tests.datavc.cli.helpers import Run, assert_error

SPEC = """\
pipeline: {name: joined}
input:
  join:
    - pfs: {repo: stores, branch: master, glob: "/STOREID(*).txt", joinOn: "$1", outerJoin: true}
    - pfs: {repo: returns, branch: master, glob: "/*_STOREID(*).txt", joinOn: "$1"}
transform: {cmd: [sh, -c, "true"]}
"""


def test_datum_list_previews_a_spec_without_running_it(run: Run, store: Path, tmp_path: Path) -> None:
    with Client.open(store) as c:
        for repo in ("stores", "returns"):
            c.create_repo(repo)
            c.create_branch(repo, "master")
        with c.commit("stores", "master") as tx:
            tx.put_file("/STOREID1.txt", b"1")
            tx.put_file("/STOREID2.txt", b"2")
        with c.commit("returns", "master") as tx:
            tx.put_file("/R_STOREID1.txt", b"r")
            tx.put_file("/R_STOREID9.txt", b"r")  # no store 9 and returns is not outer: no datum
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    rows = json.loads(run("datum", "list", "-f", spec, "--json").stdout)
    assert sorted([p for _, p, _ in r["inputs"]] for r in rows) == [
        ["/STOREID1.txt", "/R_STOREID1.txt"],
        ["/STOREID2.txt"],
    ]
    assert {r["state"] for r in rows} == {"new"}
    table = run("datum", "list", "-f", spec).stdout.splitlines()
    assert table[0].split() == ["DATUM", "STATE", "TRIES", "EXIT", "TIME", "INPUTS"] and len(table) == 3
    assert run("pipeline", "list", "--json").stdout.strip() == "[]"  # nothing was created
    assert run("job", "list", "--json").stdout.strip() == "[]"
    spec.write_text(SPEC.replace("repo: returns", "repo: nope"))
    assert_error(run("datum", "list", "-f", spec, code=None), 3)
    assert "give a JOB, or -f SPEC" in assert_error(run("datum", "list", code=None), 2)


def test_job_stop_kill_restart_and_datum_restart_from_the_cli(run: Run, store: Path) -> None:
    with Client.open(store) as c:
        c.create_repo("in")
        with c.commit("in", "main") as tx:
            tx.put_file("/a", b"a")
        c.create_pipeline(
            {
                "pipeline": {"name": "p"},
                "input": {"pfs": {"repo": "in", "glob": "/*"}},
                "transform": {"cmd": ["true"]},
            }
        )
        job = c.list_jobs("p")[0].id
    assert "stop it first" in assert_error(run("job", "restart", job, code=None), 5)
    assert run("job", "stop", job[:8]).stdout.split()[2] == "killed"
    assert json.loads(run("job", "kill", job, "--json").stdout)["state"] == "killed"
    new = json.loads(run("job", "restart", job, "--json").stdout)
    assert new["state"] == "created" and new["id"] != job
    assert "not found in job" in assert_error(run("datum", "restart", job, "abcdef12", code=None), 3)
    assert "too short" in assert_error(run("datum", "restart", job, "ab", code=None), 2)
