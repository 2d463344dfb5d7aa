"""datavc.commits: writers to one branch queue instead of racing and rebasing again.

On PostgreSQL a finishing commit locks the branch row (``FOR UPDATE``); on SQLite the
threads of one process queue for the write lock (datavc.db.session). The behaviour is the
same, so the tests below run on both databases; the queue's own mechanics are SQLite's.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datavc import commits
from datavc.client import Client
from datavc.db.session import Database
from datavc.errors import BranchMoved


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    db = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    c = Client.init(tmp_path / "store", db=db)
    c.create_repo("r")
    c.put_file("r", "main", "/seed", b"seed")
    yield c
    c.close()


def test_a_moved_branch_is_rebased_once_in_the_queue(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    optimistic: list[Any] = []
    real = commits._rebase

    def counting(*args: Any, **kwargs: Any) -> None:
        optimistic.append(args)
        real(*args, **kwargs)

    monkeypatch.setattr(commits, "_rebase", counting)
    tx = client.start_commit("r", "main")
    client.put_file("r", "main", "/x", b"x", commit=tx.id)
    client.put_file("r", "main", "/other", b"o")  # the branch moves under the open commit
    done = client.finish_commit("r", tx.id)
    assert optimistic == []  # the queued path rebased in its own transaction
    assert done.parent == client.inspect_commit("r", "main~1").id
    assert client.get_file("r", "main", "/x") == b"x"
    assert client.get_file("r", "main", "/other") == b"o"


def test_eight_writers_on_one_branch_all_land_in_one_linear_history(client: Client, tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            with Client.open(tmp_path / "store") as c:
                for k in range(2):
                    c.put_file("r", "main", f"/w{i}/{k}", f"{i}-{k}".encode())
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    files = {f.path for f in client.list_files("r", "main", recursive=True)}
    assert files == {"/seed"} | {f"/w{i}/{k}" for i in range(8) for k in range(2)}
    history = list(client.log("r", "main"))
    assert len(history) == 1 + 8 * 2
    for newer, older in itertools.pairwise(history):
        assert newer.parent == older.id


def test_strict_still_refuses_a_moved_branch(client: Client) -> None:
    tx = client.start_commit("r", "main")
    client.put_file("r", "main", "/x", b"x", commit=tx.id)
    client.put_file("r", "main", "/other", b"o")  # the branch moves
    with pytest.raises(BranchMoved):
        commits.finish_commit(client._ctx, "r", tx.id, mode="strict")
    done = client.finish_commit("r", tx.id)
    assert client.get_file("r", "main", "/x") == b"x"
    assert client.get_file("r", "main", "/other") == b"o"
    assert done.parent == client.inspect_commit("r", "main~1").id


def test_sqlite_databases_on_one_file_share_one_queue(tmp_path: Path) -> None:
    a = Database.open(f"sqlite:///{tmp_path / 'm.db'}")
    b = Database(f"sqlite:///{tmp_path / '.' / 'm.db'}")
    other = Database(f"sqlite:///{tmp_path / 'n.db'}")
    assert a.queues_writers and b.queues_writers
    assert a._write_queue is b._write_queue is not None
    assert other._write_queue is not a._write_queue
    order: list[str] = []
    with a.write():
        t = threading.Thread(target=lambda: _write_and_note(b, order))
        t.start()
        time.sleep(0.2)
        order.append("a done")  # b waited in the queue (not in SQLite's busy loop) until here
    t.join()
    assert order == ["a done", "b wrote"]
    with a.write():  # reentrant on one thread, as before: SQLite's own lock decides
        pass
    for db in (a, b, other):
        db.dispose()


def _write_and_note(db: Database, order: list[str]) -> None:
    with db.write():
        order.append("b wrote")
