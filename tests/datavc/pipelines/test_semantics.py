"""Pipeline semantics end to end, on SQLite and on PostgreSQL: datums and globs, cross /
union / join, incremental processing, triggers, provenance, rollback, lineage, failures,
the local executor's isolation, and the specs that are refused.

Transforms are tiny ``sh -c`` commands (or ``sys.executable -c``) run by the local executor;
the scheduler runs in the test process (``client.run()``) unless a test needs it elsewhere.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from datavc.client import Client
from datavc.errors import InvalidArgument, NotFound, PathNotFound
from datavc.lineage import render
from tests.datavc.helpers import files_of, open_deployment
from tests.datavc.pipelines.helpers import (
    LIST_INPUTS,
    jobs,
    last_job,
    listings,
    run_ok,
    runlog_lines,
    sh,
    upper_copy,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    """A fresh store: SQLite + local objects, or PostgreSQL + local objects.

    Overrides the three-deployment ``client`` of ``tests/datavc/conftest.py``: pipelines do
    not touch the object store differently on S3, and the 90 s budget of this suite would not
    cover a third run of every test.
    """
    home = tmp_path / "store"
    c = open_deployment(f"{request.param}+local", home, request)
    yield c
    c.close()


def put_many(client: Client, repo: str, contents: Mapping[str, bytes | str], message: str = "") -> str:
    """One commit putting every ``path: content``; returns the commit id."""
    with client.commit(repo, "main", message=message) as tx:
        for path, data in contents.items():
            tx.put_file(path, data.encode() if isinstance(data, str) else data)
    return tx.id


def pfs(repo: str, glob: str = "/*", **kw: Any) -> dict[str, Any]:
    return {"pfs": {"repo": repo, "glob": glob, **kw}}


# ----- globs and datum shapes ---------------------------------------------------------------


def test_glob_datum_counts(client: Client) -> None:
    client.create_repo("A")
    put_many(client, "A", {"/a.txt": "a", "/d1/x.txt": "x", "/d1/y.txt": "y", "/d2/sub/z.txt": "z"})
    globs = {"groot": "/", "gtop": "/*", "gsecond": "/*/*", "gfiles": "/**"}
    for name, glob in globs.items():
        client.create_pipeline(name=name, input=pfs("A", glob), transform={"cmd": sh(LIST_INPUTS)})
    run_ok(client)
    expected: dict[str, set[tuple[str, ...]]] = {
        "groot": {("A/a.txt", "A/d1/x.txt", "A/d1/y.txt", "A/d2/sub/z.txt")},
        "gtop": {("A/a.txt",), ("A/d1/x.txt", "A/d1/y.txt"), ("A/d2/sub/z.txt",)},
        "gsecond": {("A/d1/x.txt",), ("A/d1/y.txt",), ("A/d2/sub/z.txt",)},
        "gfiles": {("A/a.txt",), ("A/d1/x.txt",), ("A/d1/y.txt",), ("A/d2/sub/z.txt",)},
    }
    for name, want in expected.items():
        job = last_job(client, name)
        assert job.state == "success", job.message
        assert (job.datums_total, job.datums_processed) == (len(want), len(want)), name
        assert listings(client, name) == want, name
        assert len(list(client.list_datums(job.id))) == len(want)


def test_cross_is_every_combination(client: Client) -> None:
    client.create_repo("L")
    client.create_repo("R")
    lc = put_many(client, "L", {"/l1": "1", "/l2": "2", "/l3": "3"})
    rc = put_many(client, "R", {"/r1": "1", "/sub/r2": "2"})
    client.create_pipeline(
        name="cx", input={"cross": [pfs("L"), pfs("R")]}, transform={"cmd": sh(LIST_INPUTS)}
    )
    run_ok(client)
    job = last_job(client, "cx")
    assert job.datums_total == 6
    assert job.inputs == {"L": lc, "R": rc}
    assert listings(client, "cx") == {(f"L/l{i}", r) for i in (1, 2, 3) for r in ("R/r1", "R/sub/r2")}
    # Every datum records both of its inputs.
    for d in client.list_datums(job.id):
        assert [name for name, _, _ in d.inputs] == ["L", "R"]
    # The output commit names both input commits.
    out = client.inspect_commit("cx", "main")
    assert set(out.provenance) == {f"L@{lc}", f"R@{rc}"}
    assert out.job == job.id and out.origin == "pipeline"


def test_union_is_all_datums_of_each_input(client: Client) -> None:
    client.create_repo("L")
    client.create_repo("R")
    put_many(client, "L", {"/l1": "1", "/l2": "2"})
    put_many(client, "R", {"/r1": "1", "/r2": "2", "/r3": "3"})
    client.create_pipeline(
        name="un", input={"union": [pfs("L"), pfs("R")]}, transform={"cmd": sh(LIST_INPUTS)}
    )
    run_ok(client)
    assert last_job(client, "un").datums_total == 5
    assert listings(client, "un") == {("L/l1",), ("L/l2",), ("R/r1",), ("R/r2",), ("R/r3",)}


def test_join_pairs_equal_keys_only(client: Client) -> None:
    client.create_repo("L")
    client.create_repo("R")
    put_many(client, "L", {"/a.csv": "la", "/b.csv": "lb", "/c.csv": "lc", "/b.txt": "x"})
    put_many(client, "R", {"/b.csv": "rb", "/c.csv": "rc", "/d.csv": "rd"})
    client.create_pipeline(
        name="jn",
        input={"join": [pfs("L", "/(*).csv", join_on="$1"), pfs("R", "/(*).csv", join_on="$1")]},
        transform={"cmd": sh(LIST_INPUTS)},
    )
    run_ok(client)
    assert last_job(client, "jn").datums_total == 2
    assert listings(client, "jn") == {("L/b.csv", "R/b.csv"), ("L/c.csv", "R/c.csv")}


def test_named_inputs_are_staged_under_their_name(client: Client) -> None:
    client.create_repo("L")
    put_many(client, "L", {"/x": "x", "/y": "y"})
    # The same repo twice, told apart by name: every (left, right) pair.
    client.create_pipeline(
        name="pairs",
        input={"cross": [pfs("L", name="left"), pfs("L", name="right")]},
        transform={"cmd": sh(LIST_INPUTS)},
    )
    run_ok(client)
    assert listings(client, "pairs") == {(f"left/{a}", f"right/{b}") for a in "xy" for b in "xy"}
    job = last_job(client, "pairs")
    assert set(job.inputs) == {"left", "right"}


# ----- incremental processing -------------------------------------------------------------


def test_incremental_add_modify_delete(client: Client, tmp_path: Path) -> None:
    runlog = tmp_path / "runs.log"
    client.create_repo("A")
    put_many(client, "A", {f"/f{i:03}": f"file {i}\n" for i in range(50)})
    client.create_pipeline(
        name="up", input=pfs("A"), transform={"cmd": sh(upper_copy("A", runlog))}, parallelism=2
    )
    run_ok(client)
    first = last_job(client, "up")
    assert (first.datums_total, first.datums_processed, first.datums_skipped) == (50, 50, 0)
    assert len(runlog_lines(runlog)) == 50
    before = files_of(client, "up")
    assert before == {f"/f{i:03}": f"FILE {i}\n".encode() for i in range(50)}

    # Add one file: exactly one datum runs.
    client.put_file("A", "main", "/new", b"new file\n")
    run_ok(client)
    j = last_job(client, "up")
    assert (j.datums_total, j.datums_processed, j.datums_skipped) == (51, 1, 50)
    lines = runlog_lines(runlog)
    assert len(lines) == 51 and "./A/new" in lines[-1]
    states = sorted(d.state for d in client.list_datums(j.id))
    assert states == ["skipped"] * 50 + ["success"]
    assert files_of(client, "up") == {**before, "/new": b"NEW FILE\n"}

    # Modify one file: only its datum runs, and its output is replaced.
    client.put_file("A", "main", "/f007", b"changed\n")
    run_ok(client)
    j = last_job(client, "up")
    assert (j.datums_total, j.datums_processed, j.datums_skipped) == (51, 1, 50)
    assert "./A/f007" in runlog_lines(runlog)[-1] and len(runlog_lines(runlog)) == 52
    after = files_of(client, "up")
    assert after == {**before, "/new": b"NEW FILE\n", "/f007": b"CHANGED\n"}

    # Delete one file: nothing runs, and exactly that datum's output disappears.
    client.delete_file("A", "main", "/f010")
    run_ok(client)
    j = last_job(client, "up")
    assert (j.datums_total, j.datums_processed, j.datums_skipped) == (50, 0, 50)
    assert len(runlog_lines(runlog)) == 52
    expected = dict(after)
    del expected["/f010"]
    assert files_of(client, "up") == expected
    assert [(d.status, d.path) for d in client.diff("up", "main")] == [("deleted", "/f010")]


def test_reprocess_and_transform_change_rerun_every_datum(client: Client, tmp_path: Path) -> None:
    runlog = tmp_path / "runs.log"
    client.create_repo("A")
    put_many(client, "A", {f"/f{i}": f"v{i}" for i in range(4)})
    spec: dict[str, Any] = {
        "name": "p",
        "input": pfs("A"),
        "transform": {"cmd": sh(upper_copy("A", runlog))},
    }
    client.create_pipeline(**spec)
    run_ok(client)
    first = last_job(client, "p")
    first_ids = {d.id for d in client.list_datums(first.id)}
    out = files_of(client, "p")

    # Same spec, reprocess: every datum runs again (same hashes), same output.
    info = client.update_pipeline(**spec, reprocess=True)
    assert info.version == 1
    run_ok(client)
    j = last_job(client, "p")
    assert (j.datums_total, j.datums_processed, j.datums_skipped) == (4, 4, 0)
    assert {d.id for d in client.list_datums(j.id)} == first_ids
    assert len(runlog_lines(runlog)) == 8
    assert files_of(client, "p") == out

    # Changing only parallelism is a new version, but no datum runs.
    info = client.update_pipeline(**spec, parallelism=2)
    assert info.version == 2
    run_ok(client)
    j = last_job(client, "p")
    assert (j.datums_processed, j.datums_skipped) == (0, 4)
    assert len(runlog_lines(runlog)) == 8

    # Changing the transform: new datum hashes, every datum runs.
    changed = {**spec, "transform": {"cmd": sh(upper_copy("A", runlog)), "env": {"X": "1"}}}
    info = client.update_pipeline(**changed)
    assert info.version == 3
    run_ok(client)
    j = last_job(client, "p")
    assert (j.datums_total, j.datums_processed, j.datums_skipped) == (4, 4, 0)
    assert j.pipeline_version == 3
    assert not ({d.id for d in client.list_datums(j.id)} & first_ids)
    assert len(runlog_lines(runlog)) == 12


def test_reprocessed_outputs_are_the_ones_later_jobs_reuse(client: Client, tmp_path: Path) -> None:
    # The transform depends on something outside the store (why one reprocesses at all).
    config = tmp_path / "config"
    config.write_text("v1")
    client.create_repo("A")
    client.put_file("A", "main", "/a", b"a")
    spec: dict[str, Any] = {
        "name": "p",
        "input": pfs("A"),
        "transform": {"cmd": sh(f'for f in $(ls "$DATAVC_IN/A"); do cat {config} > "$DATAVC_OUT/$f"; done')},
    }
    client.create_pipeline(**spec)
    run_ok(client)
    assert files_of(client, "p") == {"/a": b"v1"}
    config.write_text("v2")
    client.update_pipeline(**spec, reprocess=True)
    run_ok(client)
    assert files_of(client, "p") == {"/a": b"v2"}
    # A new input file: /a is skipped, and its reprocessed output (not the first) is reused.
    client.put_file("A", "main", "/b", b"b")
    run_ok(client)
    assert last_job(client, "p").datums_skipped == 1
    assert files_of(client, "p") == {"/a": b"v2", "/b": b"v2"}


# ----- triggers ---------------------------------------------------------------------------


def test_each_finished_commit_triggers_exactly_one_job(client: Client) -> None:
    client.create_repo("A")
    client.create_pipeline(name="p", input=pfs("A"), transform={"cmd": sh(upper_copy("A"))})
    assert client.list_jobs("p") == []  # no input commit yet: nothing to run
    commits = [client.put_file("A", "main", f"/f{i}", f"v{i}".encode()).id for i in range(3)]
    # An open commit triggers nothing until it is finished.
    open_c = client.start_commit("A", "main")
    client.put_file("A", "main", "/pending", b"x", commit=open_c.id)
    pending = jobs(client, "p")
    assert [j.state for j in pending] == ["created"] * 3
    assert [j.trigger_commit for j in pending] == commits
    assert [j.inputs for j in pending] == [{"A": c} for c in commits]
    client.abort_commit("A", open_c.id)
    # Commits on a branch the pipeline does not read trigger nothing.
    client.create_branch("A", "dev")
    client.put_file("A", "dev", "/elsewhere", b"x")
    assert len(client.list_jobs("p")) == 3

    ran = run_ok(client)
    done = jobs(client, "p")
    assert ran == [j.id for j in done]  # run in trigger order
    assert [j.state for j in done] == ["success"] * 3
    outputs = list(reversed(list(client.log("p", "main"))))
    assert [o.id for o in outputs] == [j.output_commit for j in done]
    for i, (o, c) in enumerate(zip(outputs, commits, strict=True)):
        assert o.provenance == (f"A@{c}",)
        assert {f.path for f in client.walk_files("p", o.id)} == {f"/f{k}" for k in range(i + 1)}
    # Running again finds nothing to do.
    assert client.run().succeeded == []


def test_creating_a_pipeline_processes_current_heads(client: Client) -> None:
    client.create_repo("A")
    client.create_repo("B")  # an input with no commit yet
    client.put_file("A", "main", "/old", b"old")
    head = client.put_file("A", "main", "/f", b"current").id
    client.create_pipeline(
        name="p", input={"cross": [pfs("A"), pfs("B")]}, transform={"cmd": sh(LIST_INPUTS)}
    )
    client.create_pipeline(name="q", input=pfs("A"), transform={"cmd": sh(upper_copy("A"))})
    (pj,) = client.list_jobs("p")
    (qj,) = client.list_jobs("q")
    assert pj.inputs == {"A": head, "B": None}
    assert qj.inputs == {"A": head} and qj.trigger_commit is None
    run_ok(client)
    assert files_of(client, "q") == {"/old": b"OLD", "/f": b"CURRENT"}
    assert client.inspect_commit("q", "main").provenance == (f"A@{head}",)
    # A cross with an empty side has no datums: an empty output commit.
    assert client.inspect_job(pj.id).datums_total == 0
    assert files_of(client, "p") == {}


# ----- provenance through chains and diamonds ----------------------------------------------


def test_chain_and_diamond_provenance_and_wait(client: Client) -> None:
    client.create_repo("A")
    slow_copy = "sleep 0.2; " + upper_copy("A")
    client.create_pipeline(name="B", input=pfs("A"), transform={"cmd": sh(slow_copy)})
    client.create_pipeline(name="C", input=pfs("A", "/"), transform={"cmd": sh("sleep 0.2; " + LIST_INPUTS)})
    client.create_pipeline(
        name="D", input={"cross": [pfs("B", "/"), pfs("C", "/")]}, transform={"cmd": sh(LIST_INPUTS)}
    )
    client.create_pipeline(name="E", input=pfs("D", "/"), transform={"cmd": sh("sleep 0.2; " + LIST_INPUTS)})
    a = client.put_file("A", "main", "/x", b"x").id

    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            with Client.open(client.config.home) as other:
                other.run()
        except BaseException as err:  # reported by the test
            errors.append(err)

    t = threading.Thread(target=scheduler)
    t.start()
    try:
        waited = client.wait("A", "main", timeout=60)
        # wait() returned: every job downstream of A's head is done, E's included.
        all_jobs = client.list_jobs()
        assert all(j.done for j in all_jobs), [(j.pipeline, j.state) for j in all_jobs]
        assert {j.pipeline for j in waited} == {"B", "C", "D", "E"}
        assert {j.id for j in waited} == {j.id for j in all_jobs}
    finally:
        t.join(60)
    assert not errors, errors
    assert all(j.state == "success" for j in client.list_jobs())

    heads = {r: client.inspect_commit(r, "main") for r in "ABCDE"}
    assert heads["B"].provenance == (f"A@{a}",)
    assert heads["C"].provenance == (f"A@{a}",)
    assert set(heads["D"].provenance) == {f"B@{heads['B'].id}", f"C@{heads['C'].id}"}
    assert heads["E"].provenance == (f"D@{heads['D'].id}",)
    assert listings(client, "E") == {("D/" + next(iter(files_of(client, "D"))).lstrip("/"),)}

    up = client.lineage("E", "main")
    assert {n.commit for n in up.nodes} == {h.id for h in heads.values()}
    ids = {r: h.id for r, h in heads.items()}
    assert set(up.edges) == {
        (ids["E"], ids["D"]),
        (ids["D"], ids["B"]),
        (ids["D"], ids["C"]),
        (ids["B"], ids["A"]),
        (ids["C"], ids["A"]),
    }
    down = client.lineage("A", "main", direction="downstream")
    assert {n.repo for n in down.nodes} >= {"A", "B", "C", "D", "E"}
    assert set(up.edges) <= set(down.edges)


# ----- rollback -----------------------------------------------------------------------------


def test_rollback_restores_downstream_outputs_without_running(client: Client, tmp_path: Path) -> None:
    runlog = tmp_path / "runs.log"
    client.create_repo("A")
    client.create_pipeline(name="B", input=pfs("A"), transform={"cmd": sh(upper_copy("A", runlog))})
    # C sees the whole of B as one datum, and concatenates it.
    concat = (
        f'echo run >> {runlog}; cd "$DATAVC_IN/B" && find . -type f | sort | xargs cat > "$DATAVC_OUT/all"'
    )
    client.create_pipeline(name="C", input=pfs("B", "/"), transform={"cmd": sh(concat)})
    a1 = put_many(client, "A", {"/x": "one\n", "/y": "two\n"})
    run_ok(client)
    b1, c1 = files_of(client, "B"), files_of(client, "C")
    b1_tree, c1_tree = client.inspect_commit("B", "main").tree, client.inspect_commit("C", "main").tree
    assert c1 == {"/all": b"ONE\nTWO\n"}

    with client.commit("A", "main") as tx:
        tx.put_file("/x", b"uno\n")
        tx.put_file("/z", b"three\n")
    run_ok(client)
    assert files_of(client, "C") == {"/all": b"UNO\nTWO\nTHREE\n"}
    runs = len(runlog_lines(runlog))

    rb = client.rollback("A", "main", to=a1)
    assert rb.origin == "rollback"
    run_ok(client)
    for name in ("B", "C"):
        j = last_job(client, name)
        assert j.state == "success" and j.datums_processed == 0, (name, j)
        assert j.datums_skipped == j.datums_total > 0
    assert len(runlog_lines(runlog)) == runs  # nothing executed
    assert files_of(client, "B") == b1 and files_of(client, "C") == c1
    assert client.inspect_commit("B", "main").tree == b1_tree
    assert client.inspect_commit("C", "main").tree == c1_tree
    assert client.inspect_commit("B", "main").provenance == (f"A@{rb.id}",)
    # Lineage still names the datum (skipped in this job) and the input file.
    li = client.lineage("B", "main", path="/x")
    assert li.datum is not None and li.sources == (("A", "/x", client.inspect_file("A", "main", "/x").hash),)


# ----- lineage -------------------------------------------------------------------------------


def test_lineage_of_a_file_and_graph_renderings(client: Client) -> None:
    client.create_repo("A")
    put_many(client, "A", {"/x.txt": "x", "/y.txt": "y"})
    client.create_pipeline(name="B", input=pfs("A"), transform={"cmd": sh(upper_copy("A"))})
    client.create_pipeline(name="C", input=pfs("B"), transform={"cmd": sh(upper_copy("B"))})
    run_ok(client)
    a, b, c = (client.inspect_commit(r, "main") for r in "ABC")

    li = client.lineage("B", "main", path="/x.txt")
    (datum,) = [d for d in client.list_datums(b.job or "") if any(p == "/x.txt" for _, p, _ in d.inputs)]
    assert li.path == "x.txt"
    assert li.datum == datum.id
    assert li.sources == (("A", "/x.txt", client.inspect_file("A", "main", "/x.txt").hash),)
    # A file of a user repo was written by no datum.
    assert client.lineage("A", "main", path="/x.txt").datum is None
    with pytest.raises(PathNotFound):
        client.lineage("B", "main", path="/nope")

    up = client.lineage("C", "main")
    assert up.root.commit == c.id and up.root.pipeline == "C" and up.root.job == c.job
    assert {n.commit for n in up.nodes} == {a.id, b.id, c.id}
    assert set(up.edges) == {(c.id, b.id), (b.id, a.id)}
    down = client.lineage("A", a.id, direction="downstream")
    assert {n.commit for n in down.nodes} == {a.id, b.id, c.id}
    assert set(down.edges) == {(c.id, b.id), (b.id, a.id)}

    text = render(up, "text")
    assert text.splitlines()[0].startswith(f"C@{c.id[:12]}")
    assert f"B@{b.id[:12]}" in text and f"A@{a.id[:12]}" in text
    doc = json.loads(render(up, "json"))
    assert json.dumps(doc)  # valid JSON, naming every commit
    assert all(cid in json.dumps(doc) for cid in (a.id, b.id, c.id))
    dot = render(up, "dot")
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert f'"{a.id}" -> "{b.id}"' in dot and f'"{b.id}" -> "{c.id}"' in dot
    mermaid = render(up, "mermaid")
    assert mermaid.splitlines()[0] == "graph LR"
    assert f"c{a.id[:12]} --> c{b.id[:12]}" in mermaid and f"c{b.id[:12]} --> c{c.id[:12]}" in mermaid
    file_text = render(li, "text")
    assert f"written by datum {datum.id[:12]}" in file_text and "A:/x.txt" in file_text


# ----- failures --------------------------------------------------------------------------------

FAIL_ON_BAD = (
    'for f in $(cd "$DATAVC_IN/A" && ls); do echo "$f" >> "$RUNLOG"; '
    'if [ "$f" = bad ]; then echo "boom on $f" >&2; exit 3; fi; '
    'cp "$DATAVC_IN/A/$f" "$DATAVC_OUT/$f"; done'
)


def test_failed_datum_is_retried_then_fails_the_job(client: Client, tmp_path: Path) -> None:
    runlog = tmp_path / "runs.log"
    client.create_repo("A")
    client.put_file("A", "main", "/g1", b"1")
    spec: dict[str, Any] = {
        "name": "p",
        "input": pfs("A"),
        "transform": {"cmd": sh(FAIL_ON_BAD), "env": {"RUNLOG": str(runlog)}},
        "datum_tries": 2,
    }
    client.create_pipeline(**spec)
    run_ok(client)
    good_head = client.inspect_commit("p", "main").id

    with client.commit("A", "main") as tx:
        tx.put_file("/bad", b"b")
        tx.put_file("/g2", b"2")
    report = client.run()
    (failed,) = report.failed
    job = client.inspect_job(failed)
    assert job.state == "failure" and job.output_commit is None
    assert job.datums_failed == 1 and job.datums_processed == 1 and job.datums_skipped == 1
    assert runlog_lines(runlog).count("bad") == 2  # datum_tries
    assert runlog_lines(runlog).count("g2") == 1
    by_input = {d.inputs[0][1]: d for d in client.list_datums(job.id)}
    assert by_input["/bad"].state == "failed"
    assert (by_input["/bad"].tries, by_input["/bad"].exit_code) == (2, 3)
    assert by_input["/g2"].state == "success" and by_input["/g2"].output_tree
    assert by_input["/g1"].state == "skipped"
    logs = dict(client.job_logs(job.id))
    assert "boom on bad" in logs[by_input["/bad"].id]
    assert "[try 2/2]" in logs[by_input["/bad"].id]
    assert dict(client.job_logs(job.id, by_input["/bad"].id[:10])) == {
        by_input["/bad"].id: logs[by_input["/bad"].id]
    }
    assert "failed" in job.message
    # The output branch did not move.
    assert client.inspect_commit("p", "main").id == good_head
    assert files_of(client, "p") == {"/g1": b"1"}
    assert client.list_open_commits("p") == []

    # The successful datum's result is kept: a later job does not run it again.
    client.put_file("A", "main", "/g3", b"3")
    assert len(client.run().failed) == 1
    assert runlog_lines(runlog).count("g2") == 1 and runlog_lines(runlog).count("g3") == 1
    assert runlog_lines(runlog).count("bad") == 4

    # A fixed transform (a new version) succeeds.
    fixed = FAIL_ON_BAD.replace("exit 3", "true")
    client.update_pipeline(**{**spec, "transform": {"cmd": sh(fixed), "env": {"RUNLOG": str(runlog)}}})
    run_ok(client)
    assert last_job(client, "p").state == "success"
    assert files_of(client, "p") == {"/g1": b"1", "/g2": b"2", "/g3": b"3", "/bad": b"b"}


def test_datums_writing_one_path_differently_fail_the_job(client: Client) -> None:
    client.create_repo("A")
    put_many(client, "A", {"/a": "a", "/b": "b"})
    client.create_pipeline(name="p", input=pfs("A"), transform={"cmd": sh(upper_copy("A"))})
    run_ok(client)
    head = client.inspect_commit("p", "main").id
    client.update_pipeline(
        name="p", input=pfs("A"), transform={"cmd": sh('echo "$DATAVC_DATUM_ID" > "$DATAVC_OUT/same"')}
    )
    (failed,) = client.run().failed
    job = client.inspect_job(failed)
    assert "both wrote /same with different content" in job.message
    assert job.datums_processed == 2 and job.output_commit is None
    assert client.inspect_commit("p", "main").id == head
    assert client.list_open_commits("p") == []


# ----- the local executor's isolation ---------------------------------------------------------------


def test_only_regular_files_inside_out_are_ingested(client: Client, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    script = (
        'echo kept > "$DATAVC_OUT/kept"; mkdir "$DATAVC_OUT/d"; echo deep > "$DATAVC_OUT/d/deep"; '
        'echo stray > "$DATAVC_OUT/../stray"; echo cwd > ./cwd-file; echo far > "$OUTSIDE/far"; '
        'ln -s /etc/hostname "$DATAVC_OUT/host"; ln -s "$OUTSIDE" "$DATAVC_OUT/dirlink"; '
        'ln -s "$DATAVC_OUT/kept" "$DATAVC_OUT/inner-link"'
    )
    client.create_repo("A")
    client.put_file("A", "main", "/f", b"f")
    client.create_pipeline(
        name="p", input=pfs("A", "/"), transform={"cmd": sh(script), "env": {"OUTSIDE": str(outside)}}
    )
    run_ok(client)
    assert files_of(client, "p") == {"/kept": b"kept\n", "/d/deep": b"deep\n"}
    assert (outside / "far").read_text() == "far\n"  # it ran, but that file is not an output


def test_staged_inputs_are_copies(client: Client) -> None:
    client.create_repo("A")
    original = {"/f": b"original bytes\n" * 100, "/d/g": b"nested\n"}
    put_many(client, "A", original)
    tamper = (
        'cd "$DATAVC_IN/A"; echo tampered > f; chmod u+w d/g; printf more >> d/g; '
        'rm -f d/g; echo new > extra; echo ok > "$DATAVC_OUT/ok"'
    )
    client.create_pipeline(name="p", input=pfs("A", "/"), transform={"cmd": sh(tamper)})
    run_ok(client)
    assert files_of(client, "p") == {"/ok": b"ok\n"}
    assert files_of(client, "A") == original
    report = client.fsck()
    assert report.ok, report


def test_datum_timeout(client: Client) -> None:
    client.create_repo("A")
    client.put_file("A", "main", "/f", b"f")
    client.create_pipeline(
        name="p", input=pfs("A", "/"), transform={"cmd": ["sleep", "5"]}, datum_timeout=1, datum_tries=1
    )
    report = client.run()
    (job_id,) = report.failed
    (d,) = client.list_datums(job_id)
    assert d.state == "failed" and d.tries == 1
    assert d.duration is not None and d.duration < 4
    ((_, logs),) = client.job_logs(job_id)
    assert "killed after the datum timeout of 1s" in logs


def test_environment_of_the_transform(client: Client) -> None:
    client.create_repo("A")
    client.put_file("A", "main", "/f", b"f")
    code = (
        "import json, os; "
        "keys = ['GREETING', 'DATAVC_JOB_ID', 'DATAVC_DATUM_ID', 'DATAVC_IN', 'DATAVC_OUT']; "
        "env = {k: os.environ.get(k) for k in keys}; "
        "open(os.path.join(os.environ['DATAVC_OUT'], 'env.json'), 'w').write(json.dumps(env)); "
        "print(sorted(os.listdir(os.environ['DATAVC_IN'])))"
    )
    client.create_pipeline(
        name="p",
        input=pfs("A", "/"),
        transform={"cmd": [sys.executable, "-c", code], "env": {"GREETING": "hello world"}},
    )
    run_ok(client)
    job = last_job(client, "p")
    (datum,) = client.list_datums(job.id)
    env = json.loads(client.get_file("p", "main", "/env.json"))
    assert env["GREETING"] == "hello world"
    assert env["DATAVC_JOB_ID"] == job.id
    assert env["DATAVC_DATUM_ID"] == datum.id
    assert env["DATAVC_IN"] and env["DATAVC_OUT"]
    ((_, logs),) = client.job_logs(job.id)
    assert "['A']" in logs  # stdout is recorded too


# ----- refused specs ----------------------------------------------------------------------------------


def _nothing_created(client: Client, repos: set[str]) -> None:
    assert client.list_pipelines() == []
    assert {r.name for r in client.list_repos()} == repos
    assert client.list_jobs() == []


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("pipeline: {name: p}\ninput: [not, closed", "YAML"),
        ('{"pipeline": {"name": "p"}, "input": ', "JSON"),
        ({"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "A", "glob": "/*"}}}, "transform: required"),
        (
            {
                "pipeline": {"name": "p"},
                "input": {"pfs": {"repo": "A", "glob": "*"}},
                "transform": {"cmd": ["x"]},
            },
            "must start with '/'",
        ),
        (
            {
                "pipeline": {"name": "p"},
                "input": {"pfs": {"repo": "A", "glob": "/"}},
                "transform": {"cmd": []},
            },
            "transform.cmd",
        ),
        (
            {
                "pipeline": {"name": "p"},
                "input": {"cross": [{"pfs": {"repo": "A", "glob": "/"}}]},
                "transform": {"cmd": ["x"]},
            },
            "at least 2",
        ),
        (
            {
                "pipeline": {"name": "p"},
                "input": {"pfs": {"repo": "A", "glob": "/"}},
                "transform": {"cmd": ["x"], "env": {"DATAVC_IN": "/"}},
            },
            "reserved",
        ),
        (
            {
                "pipeline": {"name": "p"},
                "input": {"pfs": {"repo": "A", "glob": "/"}},
                "transform": {"cmd": ["x"]},
                "parallelism": 0,
            },
            "parallelism",
        ),
    ],
)
def test_malformed_specs_are_refused(client: Client, spec: str | dict[str, Any], problem: str) -> None:
    client.create_repo("A")
    with pytest.raises(InvalidArgument, match="invalid pipeline spec") as err:
        client.create_pipeline(spec)
    assert problem in str(err.value)
    _nothing_created(client, {"A"})


def test_unknown_input_repo_is_refused(client: Client) -> None:
    client.create_repo("A")
    with pytest.raises(NotFound, match="'nope'"):
        client.create_pipeline(
            name="p", input={"cross": [pfs("A"), pfs("nope")]}, transform={"cmd": ["true"]}
        )
    _nothing_created(client, {"A"})


def test_reading_its_own_output_repo_is_refused(client: Client) -> None:
    client.create_repo("A")
    with pytest.raises(InvalidArgument, match="own output repo"):
        client.create_pipeline(name="p", input=pfs("p"), transform={"cmd": ["true"]})
    client.create_repo("p")  # even when a repo of that name exists
    with pytest.raises(InvalidArgument, match="own output repo"):
        client.create_pipeline(name="p", input={"union": [pfs("A"), pfs("p")]}, transform={"cmd": ["true"]})
    assert client.list_pipelines() == [] and client.list_jobs() == []


def test_cycle_across_pipelines_is_refused(client: Client) -> None:
    client.create_repo("X")
    client.put_file("X", "main", "/f", b"f")
    client.create_pipeline(name="p1", input=pfs("X"), transform={"cmd": ["true"]})
    client.create_pipeline(name="p2", input=pfs("p1"), transform={"cmd": ["true"]})
    before = client.inspect_pipeline("p1")
    n_jobs = len(client.list_jobs())
    with pytest.raises(InvalidArgument, match="cycle"):
        client.update_pipeline(name="p1", input=pfs("p2"), transform={"cmd": ["true"]})
    with pytest.raises(InvalidArgument, match="cycle"):
        client.update_pipeline(
            name="p1", input={"cross": [pfs("X"), pfs("p2", "/")]}, transform={"cmd": ["true"]}
        )
    after = client.inspect_pipeline("p1")
    assert (after.version, after.spec, after.inputs) == (before.version, before.spec, before.inputs)
    assert len(client.list_jobs()) == n_jobs
    # A third pipeline may read both, but not close a loop through them either.
    client.create_pipeline(name="p3", input={"cross": [pfs("p1"), pfs("p2")]}, transform={"cmd": ["true"]})
    with pytest.raises(InvalidArgument, match="cycle"):
        client.update_pipeline(name="p1", input=pfs("p3"), transform={"cmd": ["true"]})
    run_ok(client)
