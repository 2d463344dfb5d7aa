"""``datavc merge``, ``revert``, ``cherry-pick``, ``branch protect``, ``-M``/``--metadata-file``,
``show``/``log --metadata``/``--where``/``--graph`` (``datavc/cli/merge.py`` and friends).

The held-out scenario in small: a cleaning branch and a main that moved, merged with and
without conflicts, reverted; one store for the module (the commands are cheap, the store is not).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.datavc.cli.helpers import Run, assert_error, make_run


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("merge-cli") / "store"
    run = make_run(CliRunner(env={"DATAVC_HOME": str(root)}))
    run("init", root)
    return run


def test_merge_scenario(cli: Run, tmp_path: Path) -> None:
    run = cli
    csv = tmp_path / "people.csv"
    csv.write_text("id,name\n1,ana\n2,bob \n")
    run("repo", "create", "data")
    run("put", "data@main:/people.csv", csv, "-M", "source=crm", "-M", "batch=1")
    run("branch", "create", "data@clean")
    csv.write_text("id,name\n1,ana\n2,bob\n")
    run("put", "data@clean:/people.csv", csv, "-m", "strip names")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"source": "crm", "batch": "2"}))
    run("put", "data@main:/more.csv", csv, "--metadata-file", meta)

    dry = json.loads(run("merge", "data@clean", "main", "--dry-run", "--json").stdout)
    assert (dry["result"], dry["dry_run"], dry["changes"]) == ("merged", True, 1)
    out = run("merge", "data@clean", "main", "-M", "ticket=DATA-1").stdout
    assert out.startswith("data@main now at commit ")
    show = json.loads(run("show", "data@main", "--json").stdout)
    assert len(show["parents"]) == 2 and show["metadata"] == {"ticket": "DATA-1"}
    assert "merged" in run("show", "data@main").stdout
    assert "metadata ticket" in run("show", "data@main").stdout

    graph = run("log", "data@main", "--graph").stdout.splitlines()
    assert graph[0].startswith("* ") and "merge clean into main" in graph[0]
    assert any(line.startswith("| *") or line.startswith("* |") for line in graph[1:3])
    assert len(graph) == 4
    where = json.loads(run("log", "data", "--where", "source=crm", "--json").stdout)
    assert [c["metadata"]["batch"] for c in where] == ["2", "1"]
    assert "batch=1" in run("log", "data", "--metadata").stdout
    content = run("diff", "data@main", "--content").stdout  # a merge commit against its first parent
    assert "modified /people.csv (csv)" in content and "-2,bob \n+2,bob\n" in content
    assert "same header; rows +1 -1" in content
    assert run("diff", "data@main", "--stat").stdout == "/people.csv | +1 -1\n"
    assert run("diff", "data@main~1", "data@main", "--name-only").stdout == "/people.csv\n"
    as_json = json.loads(run("diff", "data@main", "--content", "--json").stdout)
    assert as_json[0]["rows_added"] == 1 and as_json[0]["kind"] == "csv"
    assert_error(run("diff", "data@main", "--stat", "--name-only", code=2), 2)
    history = json.loads(run("log", "data@main:/people.csv", "--json").stdout)
    assert [c["message"] for c in history] == ["merge clean into main", "put /people.csv"]
    run("cp", "data@main:/people.csv", "data@main:/copy.csv")
    assert len(json.loads(run("log", "data@main:/copy.csv", "--follow", "--json").stdout)) == 3

    # both sides change the same file: refused with every conflict listed, exit 5
    csv.write_text("id,name\n1,ANA\n2,bob\n")
    run("put", "data@clean:/people.csv", csv)
    csv.write_text("id,name\n1,ana\n2,BOB\n")
    run("put", "data@main:/people.csv", csv)
    head = json.loads(run("show", "data@main", "--json").stdout)["id"]
    res = run("merge", "data@clean", "main", code=5)
    assert "/people.csv" in res.stdout and "content" in res.stdout
    assert "1 conflict" in assert_error(res, 5) and "/people.csv (content: ours 20 B" in res.stderr
    res = run("merge", "data@clean", "main", "--json", code=5)
    assert json.loads(res.stdout)["conflicts"][0]["path"] == "/people.csv"
    assert json.loads(run("show", "data@main", "--json").stdout)["id"] == head  # nothing written
    run("merge", "data@clean", "data@main", "--theirs", "*.csv")
    assert run("get", "data@main:/people.csv").stdout == "id,name\n1,ANA\n2,bob\n"

    # revert that merge (against its first parent), then cherry-pick it back onto a branch
    rv = json.loads(run("revert", "data@main", "--json").stdout)
    assert rv["operation"] == "revert" and rv["commit"]["branch"] == "main"
    assert run("get", "data@main:/people.csv").stdout == "id,name\n1,ana\n2,BOB\n"
    run("branch", "create", "data@side", "--from", "main~1")
    cp = json.loads(run("cherry-pick", f"data@{rv['commit']['id']}", "side", "--json").stdout)
    assert cp["result"] == "merged"
    assert run("get", "data@side:/people.csv").stdout == "id,name\n1,ana\n2,BOB\n"


def test_protection_and_bad_input(cli: Run, tmp_path: Path) -> None:
    run = cli
    f = tmp_path / "f"
    f.write_bytes(b"x")
    run("repo", "create", "p")
    run("put", "p@main:/f", f)
    run("branch", "create", "p@dev")
    run("put", "p@dev:/g", f)
    assert "protection: merge" in run("branch", "protect", "p@main").stdout
    assert "moves only by merge" in assert_error(run("put", "p@main:/h", f, code=5), 5)
    assert "fast-forwarded" in run("merge", "p@dev", "main").stdout
    run("branch", "protect", "p@main", "--strict")
    assert "cannot be deleted" in assert_error(run("branch", "delete", "p@main", code=5), 5)
    assert "cannot be reset" in assert_error(run("branch", "reset", "p@main", "--to", "main~1", code=5), 5)
    run("branch", "reset", "p@main", "--to", "main~1", "--force")
    assert "strict" in run("branch", "list", "p").stdout
    run("branch", "protect", "p@main", "--off")
    run("put", "p@main:/h", f)
    assert_error(run("branch", "protect", "p@main", "--off", "--strict", code=2), 2)
    assert_error(run("put", "p@main:/i", f, "-M", "no-equals", code=2), 2)
    assert_error(run("put", "p@main:/i", f, "-M", "bad key=v", code=2), 2)
    assert_error(run("put", "p@main:/i", f, "--metadata-file", tmp_path / "missing.json", code=2), 2)
    (tmp_path / "list.json").write_text("[1]")
    assert_error(run("put", "p@main:/i", f, "--metadata-file", tmp_path / "list.json", code=2), 2)
    assert_error(run("merge", "p@dev", "other@main", code=2), 2)
    assert_error(run("merge", "p@nosuch", "main", code=3), 3)
    assert "ours" in run("merge", "p@dev", "main", "--strategy", "mine", code=2).stderr  # click usage error


def test_hook_commands(cli: Run, tmp_path: Path) -> None:
    run = cli
    f = tmp_path / "f"
    f.write_bytes(b"x")
    run("repo", "create", "h")
    out = run(
        "hook",
        "add",
        "h@guard",
        "--event",
        "pre-commit",
        "--branches",
        "main",
        "--",
        "sh",
        "-c",
        "echo no; exit 4",
    )
    assert out.stdout == "added pre-commit hook h@guard on branches 'main'\n"
    assert "guard" in run("hook", "list", "h").stdout
    err = assert_error(run("put", "h@main:/f", f, code=5), 5)
    assert "pre-commit hook 'guard' refused h@main (exit 4): no" in err
    run("hook", "delete", "h@guard")
    run("hook", "add", "h@fine", "--event", "pre-commit", "--", "true")
    run("put", "h@main:/f", f)
    (res,) = json.loads(run("hook", "results", "h@main", "--json").stdout)
    assert (res["hook"], res["passed"]) == ("fine", True)
    assert_error(run("hook", "add", "h@x", "--event", "pre-commit", code=2), 2)
