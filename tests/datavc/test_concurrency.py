"""Concurrent writers, writers killed mid-put, and gc racing with writers, on real processes.

Processes come from a zygote (``worker_zygote.py``): one interpreter that imported datavc
once and forks a child per job, so 8 writers or 20 kill trials do not each pay a second
of imports. Every child opens its own ``Client`` from the store's path.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from datavc.client import Client
from storage.backends.local import LocalBackend
from tests.datavc.helpers import assert_fsck_clean, content, open_deployment

HERE = Path(__file__).parent
REPO_ROOT = HERE.parent.parent


class Zygote:
    """The ``worker_zygote.py`` subprocess: ``run(jobs, kill_after=None)`` -> per-job results."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "worker_zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )

    def run(self, jobs: list[dict[str, Any]], kill_after: float | None = None) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"jobs": jobs, "kill_after": kill_after}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the zygote died (exit code {self.proc.poll()})"
        results: list[dict[str, Any]] = json.loads(line)
        return results

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()  # end of requests: the zygote exits
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    yield z
    z.close()


def assert_all_ok(results: list[dict[str, Any]]) -> None:
    assert all(r["code"] == 0 for r in results), results


def backdate_objects(client: Client, age: float = 3600.0) -> int:
    """Make every stored object look ``age`` seconds old (local backend); returns how many."""
    backend = client.context.store.backend
    assert isinstance(backend, LocalBackend)
    old = time.time() - age
    n = 0
    for oid in backend.iter_ids():
        os.utime(backend.object_path(oid), (old, old))
        n += 1
    return n


# ----- many writers on one branch ------------------------------------------------------------

WRITERS = 8
PUTS = 50


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_concurrent_puts_linear_history(
    db: str, tmp_path: Path, request: pytest.FixtureRequest, zygote: Zygote
) -> None:
    client = open_deployment(f"{db}+local", tmp_path / "store", request)
    client.create_repo("r")
    home = str(client.config.home)
    t0 = time.monotonic()
    results = zygote.run(
        [{"op": "puts", "home": home, "repo": "r", "worker": w, "n": PUTS} for w in range(WRITERS)]
    )
    elapsed = time.monotonic() - t0
    assert_all_ok(results)
    print(f"{db}: {WRITERS}x{PUTS} puts in {elapsed:.1f}s")

    log = list(client.log("r"))
    assert len(log) == WRITERS * PUTS
    assert all(log[k].parent == log[k + 1].id for k in range(len(log) - 1)), "history is not linear"
    assert log[-1].parent is None
    assert len({c.id for c in log}) == len(log)
    assert [c.file_count for c in log] == list(range(len(log), 0, -1))  # no update lost on the way
    expected = {f"/w{w}/f{j}": content(w, j) for w in range(WRITERS) for j in range(PUTS)}
    got = {f.path: client.get_file("r", "main", f.path) for f in client.walk_files("r", "main")}
    assert got == expected
    assert client.list_open_commits("r") == []
    assert_fsck_clean(client)
    client.close()


# ----- writers killed mid-put -----------------------------------------------------------------


def write_batch(d: Path, rng: random.Random, files: int = 10, size: int = 512 * 1024) -> dict[str, bytes]:
    """A fresh ~5 MB directory of random files; returns {name: bytes}."""
    d.mkdir(parents=True)
    out = {}
    for k in range(files):
        data = rng.randbytes(size)
        (d / f"part-{k:02d}.bin").write_bytes(data)
        out[f"part-{k:02d}.bin"] = data
    return out


def _settle(pg_url: str, timeout: float = 30.0) -> None:
    """Wait until no other session of the database is working on something.

    A COMMIT the killed client had sent is still carried out by its PostgreSQL backend after
    the client is gone; read before that, the head would move one trial late (a commit of
    the previous batch seen as this trial's).
    """
    engine = sqlalchemy.create_engine(pg_url)
    q = sqlalchemy.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state NOT IN ('idle')"
    )
    try:
        deadline = time.monotonic() + timeout
        with engine.connect() as conn:
            while conn.execute(q).scalar() and time.monotonic() < deadline:
                conn.rollback()
                time.sleep(0.02)
    finally:
        engine.dispose()


@pytest.mark.parametrize(("db", "trials"), [("sqlite", 20), ("postgresql", 4)])
def test_put_killed_at_random_points(
    db: str, trials: int, tmp_path: Path, request: pytest.FixtureRequest, zygote: Zygote
) -> None:
    rng = random.Random(f"kill-{db}")
    client = open_deployment(f"{db}+local", tmp_path / "store", request)
    client.create_repo("r")
    home = str(client.config.home)

    def put_job(src: Path) -> dict[str, Any]:
        return {"op": "put_path", "home": home, "repo": "r", "path": "/data", "src": str(src)}

    # One complete put first: how long does it take (fork to exit)?
    first = write_batch(tmp_path / "batch-first", rng)
    (done,) = zygote.run([put_job(tmp_path / "batch-first")])
    assert done["code"] == 0
    duration = done["seconds"]
    print(f"{db}: one put of {sum(map(len, first.values())) >> 20} MB takes {duration:.2f}s")

    history: list[tuple[str, dict[str, bytes]]] = [(client.inspect_commit("r", "main").id, first)]
    outcomes = {"killed, old head": 0, "killed, new head": 0, "finished": 0}
    for t in range(trials):
        batch = write_batch(tmp_path / f"batch-{t}", rng)
        old_head = client.inspect_branch("r", "main").head
        delay = rng.uniform(0.0, duration * 1.2)
        (res,) = zygote.run([put_job(tmp_path / f"batch-{t}")], kill_after=delay)
        if res["signal"] is not None and db == "postgresql":
            _settle(request.getfixturevalue("pg_url"))
        head = client.inspect_branch("r", "main").head
        if res["signal"] is None:
            assert res["code"] == 0, res
            assert head != old_head
        if head == old_head:
            outcomes["killed, old head"] += 1
            continue
        # A new head is a complete, finished commit with every file of the batch.
        outcomes["finished" if res["signal"] is None else "killed, new head"] += 1
        c = client.inspect_commit("r", head)  # type: ignore[arg-type]
        assert (c.state, c.parent, c.file_count) == ("finished", old_head, len(batch))
        got = {f.path: client.get_file("r", head, f.path) for f in client.walk_files("r", head)}  # type: ignore[arg-type]
        assert got == {f"/data/{k}": v for k, v in batch.items()}
        history.append((head, batch))  # type: ignore[arg-type]
    print(f"{db}: {outcomes}")

    # No visible partial commit anywhere, every earlier commit reads back, the store is sound.
    assert [c.id for c in client.log("r")] == [cid for cid, _ in reversed(history)]
    for cid, batch in history:
        for name, data in batch.items():
            assert client.get_file("r", cid, f"/data/{name}") == data
    assert all(c.state == "open" for c in client.list_open_commits("r"))
    assert_fsck_clean(client)
    client.close()


# ----- gc racing with writers ------------------------------------------------------------------


def test_gc_races_with_writers(tmp_path: Path, zygote: Zygote) -> None:
    client = Client.init(tmp_path / "store")
    home = str(client.config.home)
    # Garbage that writers are about to need again: old, unreferenced, identical content.
    garbage = [f"garbage {k} ".encode() * (50 + k) for k in range(20)]
    client.create_repo("old")
    with client.commit("old") as tx:
        for k, data in enumerate(garbage):
            tx.put_file(f"/g{k}", data)
    client.create_repo("r")
    client.put_file("r", "main", "/seed", b"seed")
    client.delete_repo("old", force=True)
    backdate_objects(client)  # reachable ones are old too: only marking protects them
    assert client.gc(dry_run=True, grace=timedelta(seconds=2)).objects_deleted > 0

    # An open commit whose objects are old, left open during the race.
    pending = client.start_commit("r", message="open during gc")
    client.put_file("r", "main", "/pending/a", b"pending data " * 40, commit=pending.id)
    backdate_objects(client)

    deadline = time.time() + 4.0
    jobs: list[dict[str, Any]] = [
        # force: a grace below the store's open_commit_max_age (1 day), as this test always used
        {"op": "gc_until", "home": home, "repo": "r", "grace": 2.0, "deadline": deadline, "force": True}
    ]
    contents = [g.hex() for g in garbage]
    jobs += [
        {
            "op": "put_until",
            "home": home,
            "repo": "r",
            "worker": w,
            "contents": contents,
            "deadline": deadline,
            # However slow the machine, the files the assertions below count get written.
            "min_puts": 8,
        }
        for w in range(3)
    ]
    assert_all_ok(zygote.run(jobs))

    done = client.finish_commit("r", pending.id)
    assert client.get_file("r", done.id, "/pending/a") == b"pending data " * 40
    files = list(client.walk_files("r", "main"))
    reused = 0
    for f in files:
        data = client.get_file("r", "main", f.path)
        reused += data in garbage
    assert len(files) > 20 and reused > 0, (len(files), reused)
    assert_fsck_clean(client)  # every object of every commit of the race, not only the head
    for c in list(client.log("r"))[::10]:
        for f in client.walk_files("r", c.id):
            assert len(client.get_file("r", c.id, f.path)) == f.size
    # After the race, gc takes only real garbage.
    client.gc(grace=timedelta(0), force=True)  # nothing writes any more
    assert_fsck_clean(client)
    assert client.get_file("r", "main", "/seed") == b"seed"
    client.close()
