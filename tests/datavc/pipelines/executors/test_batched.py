"""Datum batching (``transform.datum_batching: true``): the transform starts once per worker and
asks for datums, from Python (``datavc.datums()``) or shell (``datavc datum next``); a datum it
fails, or dies on, is tried again; every datum is recorded. SQLite store, scheduler in process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from datavc.client import Client
from datavc.db.models import TreePage
from tests.datavc.helpers import assert_fsck_clean, object_ids
from tests.datavc.helpers import files_of as files
from tests.datavc.pipelines.helpers import last_job, sh

# Upper-cases each datum's files into its output, plus a file naming the process that did it.
PY = """
import os, datavc
for d in datavc.datums():
    src = d.inputs["A"]
    for name in os.listdir(src):
        data = open(os.path.join(src, name)).read()
        if data == "fail":
            d.fail("asked to")
            continue
        if data == "die" and not os.path.exists(os.environ["FLAG"]):
            open(os.environ["FLAG"], "w").close()
            raise SystemExit(3)
        open(os.path.join(d.output_dir, name), "w").write(data.upper())
        open(os.path.join(os.environ["DATAVC_OUT"], name + ".pid"), "w").write(str(os.getpid()))
"""
# Upper-cases each datum's files into its output (one small file per datum).
SIMPLE = """
import os, datavc
for d in datavc.datums():
    for name in os.listdir(d.inputs["A"]):
        data = open(os.path.join(d.inputs["A"], name)).read()
        open(os.path.join(d.output_dir, name), "w").write(data.upper())
"""
N = 6
DATAVC = str(Path(sys.executable).with_name("datavc"))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    c = Client.init(tmp_path / "store")
    c.create_repo("A")
    with c.commit("A") as tx:
        for i in range(N):
            tx.put_file(f"/f{i:02d}", f"v{i}".encode())
    yield c
    c.close()


def _pipeline(c: Client, cmd: list[str], env: dict[str, str] | None = None, **kw: object) -> None:
    c.create_pipeline(
        name="P",
        input={"pfs": {"repo": "A", "glob": "/*"}},
        transform={"cmd": cmd, "datum_batching": True, "env": env or {}},
        **kw,
    )


def test_a_python_transform_starts_once_and_processes_every_datum(client: Client, tmp_path: Path) -> None:
    _pipeline(client, [sys.executable, "-c", PY], {"FLAG": str(tmp_path / "flag")})
    assert client.run().ok
    out = files(client, "P")
    assert {k: v for k, v in out.items() if not k.endswith(".pid")} == {
        f"/f{i:02d}": f"V{i}".encode() for i in range(N)
    }
    assert len({v for k, v in out.items() if k.endswith(".pid")}) == 1  # one process for N datums
    job = last_job(client, "P")
    assert (job.datums_total, job.datums_processed, job.datums_failed) == (N, N, 0)


def test_parallel_workers_each_start_once(client: Client, tmp_path: Path) -> None:
    _pipeline(client, [sys.executable, "-c", PY], {"FLAG": str(tmp_path / "flag")}, parallelism=2)
    assert client.run().ok
    pids = {v for k, v in files(client, "P").items() if k.endswith(".pid")}
    assert 1 <= len(pids) <= 2


def test_a_shell_transform_uses_datavc_datum_next(client: Client) -> None:
    script = (
        f'while vars=$({DATAVC} datum next); do eval "$vars"; '
        'for f in "$DATAVC_IN"/A/*; do tr a-z A-Z < "$f" > "$DATAVC_OUT/$(basename "$f")"; done; done'
    )
    _pipeline(client, sh(script))
    assert client.run().ok
    assert files(client, "P") == {f"/f{i:02d}": f"V{i}".encode() for i in range(N)}


def test_a_failed_datum_fails_alone_and_a_crash_is_retried(client: Client, tmp_path: Path) -> None:
    client.put_file("A", "main", "/f03", b"fail")
    client.put_file("A", "main", "/f05", b"die")  # the process exits on its first try only
    _pipeline(client, [sys.executable, "-c", PY], {"FLAG": str(tmp_path / "flag")}, datum_tries=2)
    report = client.run()
    assert not report.ok
    job = last_job(client, "P")
    assert (job.datums_total, job.datums_processed, job.datums_failed) == (N, N - 1, 1)
    logs = "".join(text for _, text in client.job_logs(job.id))
    assert "the transform failed the datum: asked to" in logs
    assert (tmp_path / "flag").exists()  # f05 died once, then succeeded in a new process


def test_a_transform_that_never_asks_fails_every_datum_saying_why(client: Client) -> None:
    _pipeline(client, sh("echo not batched; exit 0"))
    assert not client.run().ok
    job = last_job(client, "P")
    assert job.datums_failed == N
    logs = "".join(text for _, text in client.job_logs(job.id))
    assert "exited without asking for this datum" in logs and "not batched" in logs


def test_datum_next_outside_a_batched_transform_is_a_usage_error() -> None:
    import subprocess

    got = subprocess.run([DATAVC, "datum", "next"], capture_output=True, text=True)
    assert got.returncode == 2
    assert got.stderr.startswith("error: $DATAVC_DATUM_FD is not set")
    assert "Traceback" not in got.stderr


# Datum f00 writes a subdirectory, a file over the in-memory limit and a link (stored from a
# directory, as put_dir does: the link skipped); the others one small file (read into memory).
MIXED = """
import os, datavc
for d in datavc.datums():
    [name] = os.listdir(d.inputs["A"])
    data = open(os.path.join(d.inputs["A"], name), "rb").read()
    open(os.path.join(d.output_dir, name), "wb").write(data.upper())
    if name == "f00":
        os.makedirs(os.path.join(d.output_dir, "sub"))
        open(os.path.join(d.output_dir, "sub", "x"), "wb").write(b"x")
        open(os.path.join(d.output_dir, "big"), "wb").write(b"b" * 70000)
        os.symlink("/etc/passwd", os.path.join(d.output_dir, "link"))
"""


def test_outputs_are_exact_whether_read_into_memory_or_stored_from_a_directory(client: Client) -> None:
    _pipeline(client, [sys.executable, "-c", MIXED])
    assert client.run().ok
    want = {f"/f{i:02d}": f"V{i}".encode() for i in range(N)} | {"/sub/x": b"x", "/big": b"b" * 70000}
    assert files(client, "P") == want
    # The small outputs stored in the same window share a pack: fewer packs than datums.
    store = client.context.store
    packs = {
        r.oid
        for dat in client.list_datums(last_job(client, "P").id)
        if dat.output_tree and dat.inputs[0][1] != "/f00"
        for _, e in store.walk(dat.output_tree)
        for r in e.refs
    }
    assert len(packs) < N - 1


# One datum per process: the datum staged ahead of the next request goes to the next process.
ONE_EACH = """
import os, datavc
d = next(datavc.datums())
for name in os.listdir(d.inputs["A"]):
    open(os.path.join(d.output_dir, name), "w").write(open(os.path.join(d.inputs["A"], name)).read().upper())
"""


def test_a_datum_staged_ahead_is_handed_to_the_next_process_without_using_a_try(client: Client) -> None:
    _pipeline(client, [sys.executable, "-c", ONE_EACH])
    assert client.run().ok
    assert files(client, "P") == {f"/f{i:02d}": f"V{i}".encode() for i in range(N)}
    job = last_job(client, "P")
    assert (job.datums_processed, job.datums_failed) == (N, 0)
    assert {d.tries for d in client.list_datums(job.id)} == {1}


def test_a_datum_staged_ahead_fails_with_the_rest_when_the_next_process_never_asks(
    client: Client, tmp_path: Path
) -> None:
    once = (
        "import os, sys\n"
        "if os.path.exists(os.environ['FLAG']): sys.exit(print('not again'))\n"
        "open(os.environ['FLAG'], 'w').close()\n" + ONE_EACH
    )
    _pipeline(client, [sys.executable, "-c", once], {"FLAG": str(tmp_path / "flag")})
    assert not client.run().ok
    job = last_job(client, "P")
    assert (job.datums_processed, job.datums_failed) == (1, N - 1)
    logs = "".join(text for _, text in client.job_logs(job.id))
    assert "exited without asking for this datum" in logs and "not again" in logs


def test_datum_output_trees_are_packed_kept_by_gc_and_reused_by_the_next_job(
    client: Client, tmp_path: Path
) -> None:
    _pipeline(client, [sys.executable, "-c", SIMPLE])
    assert client.run().ok
    trees = {d.output_tree for d in client.list_datums(last_job(client, "P").id)}
    assert None not in trees and len(trees) == N
    # No object file per datum's tree: they are in tree packs, found through the database.
    ids = object_ids(client)
    assert not trees & ids
    client.close()
    client = Client.open(tmp_path / "store")
    client.gc(grace=timedelta(0), force=True)  # the input's older trees go, the packs stay
    with client.context.db.read() as s:
        located = dict(s.execute(select(TreePage.page, TreePage.pack)).all())
    assert set(located) == trees and set(located.values()) <= object_ids(client)
    store = client.context.store
    assert {t: [p for p, _ in store.walk(t)] for t in trees if t} == {
        d.output_tree: [d.inputs[0][1].lstrip("/")] for d in client.list_datums(last_job(client, "P").id)
    }
    # The next job skips the six datums, reusing their (packed) outputs.
    client.put_file("A", "main", "/g", b"new")
    assert client.run().ok
    want = {f"/f{i:02d}": f"V{i}".encode() for i in range(N)} | {"/g": b"NEW"}
    assert files(client, "P") == want
    assert last_job(client, "P").datums_skipped == N
    assert_fsck_clean(client)
    # fsck checks the packs: one that lost a page it should hold is reported.
    pack = next(iter(located.values()))
    with client.context.db.write() as s:
        s.add(TreePage(page="0" * 32, pack=pack))
    report = client.fsck()
    assert not report.ok and any("without page" in b for b in report.bad_trees)
    with client.context.db.write() as s:
        s.execute(delete(TreePage).where(TreePage.page == "0" * 32))
    assert_fsck_clean(client)
    # Once the pipeline is gone, gc takes its packs and forgets them.
    client.delete_pipeline("P")
    client.gc(grace=timedelta(0), force=True)
    with client.context.db.read() as s:
        assert s.scalar(select(func.count()).select_from(TreePage)) == 0
    client.close()
