"""One contract: the same Client operations against the direct client and the remote client.

Each test runs four times: direct and remote (a real uvicorn server on 127.0.0.1), on
SQLite and on PostgreSQL. The remote client pages with 2 items a page, so every
listing crosses page boundaries.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from datavc import errors
from datavc.client import Client
from datavc.remote import RemoteClient
from tests.datavc.server.conftest import Server, start_server


@pytest.fixture(params=["direct-sqlite", "direct-postgresql", "remote-sqlite", "remote-postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    mode, db = request.param.split("-")
    url = request.getfixturevalue("pg_url") if db == "postgresql" else None
    direct = Client.init(tmp_path / "store", db=url)
    if mode == "direct":
        yield direct
        direct.close()
        return
    srv: Server = start_server(direct)
    remote = srv.client(srv.admin_token)
    remote.page_size = 2
    SCHEDULERS[id(remote)] = direct
    try:
        yield remote
    finally:
        srv.stop()
        direct.close()


SCHEDULERS: dict[int, Client] = {}


def scheduler(api: Client) -> Client:
    """Who runs jobs: the client itself, or for a remote client the direct client its server serves."""
    return SCHEDULERS.get(id(api), api)


def paths(it: Iterator[object] | list[object]) -> list[str]:
    return [f.path for f in it]  # type: ignore[attr-defined]


def test_repos(api: Client) -> None:
    for name in ("a", "b", "c"):
        api.create_repo(name, description=f"repo {name}")
    assert [r.name for r in api.list_repos()] == ["a", "b", "c"]
    info = api.inspect_repo("b")
    assert (info.name, info.description, info.branches) == ("b", "repo b", ("main",))
    with pytest.raises(errors.AlreadyExists):
        api.create_repo("a")
    api.put_file("c", "main", "/x", b"x")
    with pytest.raises(errors.Conflict):
        api.delete_repo("c")
    api.delete_repo("c", force=True)
    api.delete_repo("a")
    assert [r.name for r in api.list_repos()] == ["b"]
    with pytest.raises(errors.NotFound):
        api.inspect_repo("a")
    with pytest.raises(errors.InvalidArgument):
        api.create_repo("bad name!")


def test_branches_tags_reset_reflog(api: Client) -> None:
    api.create_repo("r")
    c1 = api.put_file("r", "main", "/f", b"1")
    c2 = api.put_file("r", "main", "/f", b"2")
    for name in ("dev", "exp", "feat"):
        api.create_branch("r", name, c1.id)
    assert [b.name for b in api.list_branches("r")] == ["dev", "exp", "feat", "main"]
    assert api.inspect_branch("r", "dev").head == c1.id
    api.reset_branch("r", "dev", c2.id)
    assert api.inspect_branch("r", "dev").head == c2.id
    moves = api.reflog("r", "dev")
    assert [(m.old, m.new) for m in moves] == [(c1.id, c2.id), (None, c1.id)]
    assert len(api.reflog("r", "dev", limit=1)) == 1
    api.delete_branch("r", "exp")
    with pytest.raises(errors.NotFound):
        api.inspect_branch("r", "exp")
    for name in ("v1", "v2", "v3"):
        api.create_tag("r", f"main~{1 if name == 'v1' else 0}", name)
    assert [(t.name, t.commit) for t in api.list_tags("r")] == [("v1", c1.id), ("v2", c2.id), ("v3", c2.id)]
    assert api.get_file("r", "v1", "/f") == b"1"
    api.delete_tag("r", "v3")
    assert [t.name for t in api.list_tags("r")] == ["v1", "v2"]
    with pytest.raises(errors.AlreadyExists):
        api.create_tag("r", "main", "v1")


def test_open_commits_and_log(api: Client) -> None:
    api.create_repo("r")
    ids = [api.put_file("r", "main", f"/f{i}", bytes([i])).id for i in range(5)]
    log = list(api.log("r"))
    assert [c.id for c in log] == ids[::-1]
    assert [c.id for c in api.log("r", "main", limit=3)] == ids[:1:-1]
    assert [c.id for c in api.log("r", ids[2])] == ids[2::-1]
    assert log[0].parent == ids[3] and log[0].author and log[0].state == "finished"

    open_ = api.start_commit("r", "main", message="batch")
    api.put_file("r", "main", "/a", b"a", commit=open_.id)
    api.put_file("r", "main", "/b", io.BytesIO(b"b" * 100_000), commit=open_.id)
    api.delete_file("r", "main", "/f0", commit=open_.id)
    assert [c.id for c in api.list_open_commits("r")] == [open_.id]
    assert api.inspect_commit("r", "main").id == ids[-1]  # not visible yet
    done = api.finish_commit("r", open_.id)
    assert (done.state, done.message, done.parent) == ("finished", "batch", ids[-1])
    assert api.inspect_commit("r", "main").id == open_.id
    with pytest.raises(errors.Conflict):
        api.finish_commit("r", open_.id)

    aborted = api.start_commit("r", "main")
    api.put_file("r", "main", "/zzz", b"z", commit=aborted.id)
    api.abort_commit("r", aborted.id)
    assert api.list_open_commits("r") == []
    with pytest.raises(errors.NotFound):
        api.inspect_file("r", "main", "/zzz")

    with api.commit("r", "main", message="tx") as tx:
        tx.put_file("/t", b"t")
        tx.copy_file("r", "main", "/a", "/a-copy")
    assert api.get_file("r", "main", "/a-copy") == b"a"
    assert api.inspect_commit("r", "main").message == "tx"


def test_files_put_get_range_ls(api: Client, tmp_path: Path) -> None:
    api.create_repo("r")
    blob = bytes(range(256)) * 4000  # 1 024 000 bytes
    src = tmp_path / "blob.bin"
    src.write_bytes(blob)
    seen: list[int] = []
    api.put_file("r", "main", "/data/blob.bin", src, progress=seen.append)
    assert sum(seen) == len(blob)
    d = tmp_path / "dir"
    (d / "sub").mkdir(parents=True)
    (d / "x.txt").write_bytes(b"x\n")
    (d / "sub" / "y.txt").write_bytes(b"y\n")
    api.put_file("r", "main", "/data/dir", d)

    assert api.get_file("r", "main", "/data/blob.bin") == blob
    assert b"".join(api.iter_file("r", "main", "/data/blob.bin", 1000, 5000)) == blob[1000:6000]
    assert b"".join(api.iter_file("r", "main", "/data/blob.bin", len(blob) - 10)) == blob[-10:]
    with api.open_file("r", "main", "/data/blob.bin") as f:
        f.seek(500_000)
        assert f.read(10) == blob[500_000:500_010]

    info = api.inspect_file("r", "main", "/data/blob.bin")
    assert (info.kind, info.size, info.file_count) == ("file", len(blob), 1)
    assert api.inspect_file("r", "main", "/data").kind == "dir"
    assert paths(api.list_files("r", "main", "/data")) == ["/data/blob.bin", "/data/dir"]
    assert paths(api.walk_files("r", "main")) == ["/data/blob.bin", "/data/dir/sub/y.txt", "/data/dir/x.txt"]
    assert sorted(paths(api.glob_files("r", "main", "/data/**/*.txt"))) == [
        "/data/dir/sub/y.txt",
        "/data/dir/x.txt",
    ]

    out = tmp_path / "out"
    assert api.get_to_path("r", "main", "/data/dir", out) == 2
    assert (out / "sub" / "y.txt").read_bytes() == b"y\n"
    one = tmp_path / "one.bin"
    assert api.get_to_path("r", "main", "/data/blob.bin", one) == 1
    assert one.read_bytes() == blob

    with pytest.raises(errors.NotFound):
        api.get_file("r", "main", "/nope")
    with pytest.raises(errors.InvalidArgument):
        api.get_file("r", "main", "/data")
    with pytest.raises(errors.InvalidArgument):
        api.put_file("r", "main", "/../escape", b"x")

    api.delete_file("r", "main", ["/data/dir/x.txt", "/data/blob.bin"])
    assert paths(api.walk_files("r", "main")) == ["/data/dir/sub/y.txt"]


def test_put_chunks_keeps_the_cuts_and_refuses_cuts_a_cutter_would_not_give(api: Client) -> None:
    api.create_repo("r")
    p = api.chunking()
    parts = [b"a" * p.min_size, b"b" * 10]
    api.put_chunks("r", "main", "/cut.bin", parts, message="cut elsewhere")
    assert api.get_file("r", "main", "/cut.bin") == b"".join(parts)
    assert api.inspect_commit("r", "main").message == "cut elsewhere"
    with pytest.raises(errors.InvalidArgument, match="was not the file's last"):
        api.put_chunks("r", "main", "/bad.bin", [b"x" * 10, b"y" * 10])
    assert paths(api.walk_files("r", "main")) == ["/cut.bin"]


def test_diff_and_rollback(api: Client) -> None:
    api.create_repo("r")
    base = api.put_file("r", "main", "/keep", b"k")
    with api.commit("r", "main") as tx:
        for name in ("a", "b", "c"):
            tx.put_file(f"/{name}", name.encode())
        tx.put_file("/keep", b"changed")
    changes = [(d.path, d.status) for d in api.diff("r", "main")]
    assert changes == [("/a", "added"), ("/b", "added"), ("/c", "added"), ("/keep", "modified")]
    assert [(d.path, d.status) for d in api.diff("r", "main", base.id)] == [
        ("/a", "deleted"),
        ("/b", "deleted"),
        ("/c", "deleted"),
        ("/keep", "modified"),
    ]
    back = api.rollback("r", "main", base.id)
    assert back.origin == "rollback"
    assert paths(api.list_files("r", "main")) == ["/keep"]
    assert api.get_file("r", "main", "/keep") == b"k"
    assert api.reflog("r", "main")[0].new == back.id


def test_fsck_and_gc(api: Client) -> None:
    api.create_repo("r")
    api.put_file("r", "main", "/f", b"kept")
    api.put_file("r", "main", "/f", b"replaced")
    api.create_repo("tmp")
    api.put_file("tmp", "main", "/g", b"garbage once its repo is gone")
    report = api.fsck()
    assert report.ok and report.commits_checked == 3
    api.delete_repo("tmp", force=True)
    dry = api.gc(dry_run=True, grace=timedelta(0))
    assert dry.dry_run and dry.objects_deleted >= 1
    done = api.gc(grace=timedelta(0), force=True)  # below open_commit_max_age: nothing else writes
    assert done.objects_deleted == dry.objects_deleted
    assert api.get_file("r", "main", "/f") == b"replaced"
    assert api.fsck().ok


def test_same_errors_for_bad_refs(api: Client) -> None:
    api.create_repo("r")
    api.put_file("r", "main", "/f", b"1")
    with pytest.raises(errors.NotFound):
        api.inspect_commit("r", "nobranch")
    with pytest.raises(errors.NotFound):
        list(api.log("missing"))
    with pytest.raises(errors.InvalidArgument):
        api.inspect_commit("r", "main~x")
    with pytest.raises(errors.NotFound):
        api.reset_branch("r", "main", "0" * 32)


COUNT = 'for f in "$DATAVC_IN"/texts/*; do wc -c < "$f" | tr -d " " > "$DATAVC_OUT/$(basename "$f").n"; done'


def test_pipelines_jobs_datums_logs(api: Client) -> None:
    api.create_repo("texts")
    with api.commit("texts", "main") as tx:
        tx.put_file("/a.txt", b"12345")
        tx.put_file("/b.txt", b"123")
    p = api.create_pipeline(
        name="count", input={"pfs": {"repo": "texts", "glob": "/*"}}, transform={"cmd": ["sh", "-c", COUNT]}
    )
    assert (p.name, p.output_repo, p.inputs, p.state) == ("count", "count", ("texts@main",), "running")
    assert [x.name for x in api.list_pipelines()] == ["count"]
    assert api.inspect_pipeline("count").spec_hash == p.spec_hash
    report = scheduler(api).run()
    assert not report.failed
    jobs = api.list_jobs("count")
    assert len(jobs) == 1 and jobs[0].state == "success"
    job = api.wait_job(jobs[0].id[:8], timeout=30)
    assert (job.id, job.datums_total, job.datums_processed) == (jobs[0].id, 2, 2)
    assert [j.id for j in api.list_jobs()] == [job.id]
    datums = list(api.list_datums(job.id))
    assert sorted(d.inputs[0][1] for d in datums) == ["/a.txt", "/b.txt"]
    assert all(d.state == "success" and d.exit_code == 0 for d in datums)
    assert {d for d, _ in api.job_logs(job.id)} == {d.id for d in datums}
    assert api.get_file("count", "main", "/a.txt.n") == b"5\n"
    assert api.stop_pipeline("count").state == "stopped"
    assert api.start_pipeline("count").state == "running"
    v2 = api.update_pipeline(
        name="count", input={"pfs": {"repo": "texts", "glob": "/"}}, transform={"cmd": ["sh", "-c", COUNT]}
    )
    assert v2.version == 2
    with pytest.raises(errors.NotFound):
        api.inspect_job("f" * 32)
    with pytest.raises(errors.InvalidArgument):
        api.create_pipeline(name="bad", input={"pfs": {"repo": "texts", "glob": "/"}}, transform={})
    up = api.lineage("count", "main")
    assert up.direction == "upstream" and {n.repo for n in up.nodes} >= {"texts"}
    down = api.lineage("texts", "main", direction="downstream")
    assert "count" in {n.repo for n in down.nodes}
    src = api.lineage("count", "main", "/a.txt.n")
    assert [s[1] for s in src.sources] == ["/a.txt"]
    api.delete_pipeline("count")
    assert api.list_pipelines() == []
    assert api.inspect_repo("count").name == "count"  # the output repo stays


def test_remote_client_overrides_every_public_client_method() -> None:
    """A Client method the remote client does not override would run direct code with no store."""
    public = {n for n in dir(Client) if not n.startswith("_") and callable(getattr(Client, n))}
    public -= {"init", "open", "from_urls", "from_env"}  # constructors of direct clients
    missing = sorted(n for n in public if getattr(RemoteClient, n) is getattr(Client, n))
    assert missing == ["commit", "walk_files"], missing  # both are built on methods it overrides


def test_unsupported_operations_say_so(server: Server) -> None:
    c = server.client(server.admin_token)
    with pytest.raises(errors.InvalidArgument, match="not available through the datavc server API"):
        c.run()
    fn: Callable[..., object] = c.daemon
    with pytest.raises(errors.InvalidArgument, match="daemon is not available through the datavc server API"):
        fn(1.0)
    # Working copies are covered now (tests/datavc/test_remote_workdir.py): a missing repo is NotFound.
    fn = c.checkout
    with pytest.raises(errors.NotFound):
        fn("r", "main", "/tmp/nowhere")
