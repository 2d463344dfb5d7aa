"""Commit sets on the OpenCV-quickstart diamond, on SQLite and on PostgreSQL.

``images`` feeds ``edges`` (one datum per image), and ``montage`` crosses ``images`` and
``edges`` (the whole of each). Every montage output names each image with the edge map it
was paired with, so a mismatched pair (new images with stale edges) is visible in the
data, and in the provenance: a montage commit's ``edges`` input must have been derived
from its very ``images`` input.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.errors import InvalidArgument, NotFound
from tests.datavc.helpers import files_of, open_deployment
from tests.datavc.pipelines.helpers import jobs, run_ok, sh

# edges: /<name> -> /<name>.edge holding "edge:<content>"
EDGES = (
    'cd "$DATAVC_IN/images" && for f in *; do printf "edge:%s" "$(cat "$f")" > "$DATAVC_OUT/$f.edge"; done'
)
# montage: one line per image, "<name>=<content>|<its edge map or MISSING>", plus stray edge maps.
MONTAGE = (
    'cd "$DATAVC_IN"; for f in $(ls images); do '
    'e=$(cat "edges/$f.edge" 2>/dev/null || echo MISSING); echo "$f=$(cat "images/$f")|$e"; '
    'done > "$DATAVC_OUT/montage"; for e in $(ls edges); do '
    '[ -e "images/${e%.edge}" ] || echo "stray $e"; done >> "$DATAVC_OUT/montage"'
)


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    c = open_deployment(f"{request.param}+local", tmp_path / "store", request)
    c.create_repo("images")
    c.create_pipeline(
        name="edges", input={"pfs": {"repo": "images", "glob": "/*"}}, transform={"cmd": sh(EDGES)}
    )
    c.create_pipeline(
        name="montage",
        input={"cross": [{"pfs": {"repo": "images", "glob": "/"}}, {"pfs": {"repo": "edges", "glob": "/"}}]},
        transform={"cmd": sh(MONTAGE)},
    )
    yield c
    c.close()


def commit(client: Client, put: dict[str, str], delete: tuple[str, ...] = ()) -> str:
    with client.commit("images", "main") as tx:
        for path, text in put.items():
            tx.put_file(path, text.encode())
        for path in delete:
            tx.delete_file(path)
    return tx.id


def check_consistent(client: Client) -> int:
    """Every montage commit pairs images with the edges derived from those very images."""
    seen = 0
    for c in client.log("montage", "main"):
        if not c.provenance:
            continue
        seen += 1
        prov = dict(p.split("@") for p in c.provenance)
        edges = client.inspect_commit("edges", prov["edges"])
        assert edges.provenance == (f"images@{prov['images']}",), (c.id, prov, edges.provenance)
        assert edges.commit_set == c.commit_set
        images = files_of(client, "images", prov["images"])
        want = sorted(f"{p.lstrip('/')}={v.decode()}|edge:{v.decode()}" for p, v in images.items())
        got = client.get_file("montage", c.id, "/montage").decode().splitlines()
        assert sorted(got) == want, (c.id, got, want)
    return seen


def test_diamond_runs_once_per_commit_set_on_matching_inputs(client: Client) -> None:
    run_ok(client)
    # A burst: three commits (one deletes an image) before anything runs.
    c1 = commit(client, {"/a": "1", "/b": "2"})
    c2 = commit(client, {"/c": "3"}, delete=("/a",))
    c3 = commit(client, {"/b": "22"})
    run_ok(client)
    montage = jobs(client, "montage")
    # One job per set (no job at creation: images had no commit yet).
    assert [j.commit_set for j in montage] == [c1, c2, c3]
    assert all(j.state == "success" for j in montage)
    assert check_consistent(client) == 3

    info = client.inspect_commit_set(c2)
    assert info.id == c2 and info.origin.startswith("user commit images@main")
    assert [(m.repo, m.origin) for m in info.commits] == [
        ("images", "user"),
        ("edges", "pipeline"),
        ("montage", "pipeline"),
    ]
    assert sorted(j.pipeline for j in info.jobs) == ["edges", "montage"]
    assert all(j.state == "success" and j.commit_set == c2 for j in info.jobs)
    assert client.inspect_commit_set(c2[:8]).id == c2
    assert client.inspect_commit("montage", "main").commit_set == c3
    assert client.lineage("montage", "main").root.commit_set == c3

    # Rolling back images runs no datum anywhere downstream.
    rb = client.rollback("images", "main", c1)
    run_ok(client)
    rolled = client.inspect_commit_set(rb.id)
    assert sorted(j.pipeline for j in rolled.jobs) == ["edges", "montage"]
    assert all(j.datums_processed == 0 and j.datums_skipped > 0 for j in rolled.jobs), rolled.jobs
    assert check_consistent(client) == 4
    assert client.get_file("montage", "main", "/montage").decode().split() == ["a=1|edge:1", "b=2|edge:2"]

    with pytest.raises(NotFound):
        client.inspect_commit_set("f" * 32)
    with pytest.raises(InvalidArgument):
        client.inspect_commit_set("abc")
    with pytest.raises(InvalidArgument, match="not hexadecimal"):
        client.inspect_commit_set("zzzzzzzz")


@pytest.mark.parametrize("client", ["postgresql"], indirect=True)  # claims race there (SKIP LOCKED)
def test_commits_while_a_scheduler_runs_never_pair_sets(client: Client, tmp_path: Path) -> None:
    """A scheduler in another thread (its own client) runs jobs while commits keep coming."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def schedule() -> None:
        try:
            with Client.open(tmp_path / "store") as other:
                while not stop.is_set():
                    other.run(wait_for_others=False)
                    stop.wait(0.05)
        except BaseException as err:  # reported by the test thread
            errors.append(err)

    t = threading.Thread(target=schedule)
    t.start()
    try:
        # Each commit adds /i and deletes /(i-2): a mismatched pair shows a stray or missing edge map.
        ids = [commit(client, {f"/{i}": str(i)}, delete=(f"/{i - 2}",) if i >= 2 else ()) for i in range(4)]
        last = client.wait_commit_set(ids[-1], timeout=60)
    finally:
        stop.set()
        t.join(timeout=60)
    assert not errors, errors
    run_ok(client)
    assert all(j.state == "success" for j in last.jobs)
    montage_sets = [j.commit_set for j in jobs(client, "montage")]
    assert len(montage_sets) == len(set(montage_sets)), "montage ran twice for one commit set"
    assert set(ids) <= set(montage_sets)
    check_consistent(client)


@pytest.mark.parametrize("client", ["sqlite"], indirect=True)  # scheduling logic, not the database
def test_a_failed_upstream_job_leaves_the_diamond_unrun(client: Client) -> None:
    run_ok(client)
    client.update_pipeline(
        name="edges", input={"pfs": {"repo": "images", "glob": "/*"}}, transform={"cmd": sh("exit 3")}
    )
    bad = commit(client, {"/x": "9"})
    report = client.run()
    info = client.inspect_commit_set(bad)
    states = {j.pipeline: (j.state, j.message) for j in info.jobs}
    assert states["edges"][0] == "failure"
    assert states["montage"][0] == "killed"
    assert "has no commit in commit set" in states["montage"][1]
    assert not report.ok
    with pytest.raises(NotFound, match="no commits yet"):
        client.inspect_commit("montage", "main")  # montage never ran on a mismatched pair
