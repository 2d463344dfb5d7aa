"""datavc.commits on PostgreSQL: writers to one branch queue on its row (FOR UPDATE) instead of racing."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from datavc import commits
from datavc.client import Client
from datavc.errors import BranchMoved


@pytest.fixture
def pg_client(tmp_path: Path, pg_url: str) -> Client:
    c = Client.init(tmp_path / "store", db=pg_url)
    c.create_repo("r")
    c.put_file("r", "main", "/seed", b"seed")
    return c


def test_eight_writers_on_one_branch_all_land_in_one_linear_history(
    pg_client: Client, tmp_path: Path
) -> None:
    home = tmp_path / "store"
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            with Client.open(home) as c:
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
    files = {f.path for f in pg_client.list_files("r", "main", recursive=True)}
    assert files == {"/seed"} | {f"/w{i}/{k}" for i in range(8) for k in range(2)}
    history = list(pg_client.log("r", "main"))
    assert len(history) == 1 + 8 * 2
    for newer, older in itertools.pairwise(history):
        assert newer.parent == older.id
    pg_client.close()


def test_strict_still_refuses_a_moved_branch(pg_client: Client) -> None:
    tx = pg_client.start_commit("r", "main")
    pg_client.put_file("r", "main", "/x", b"x", commit=tx.id)
    pg_client.put_file("r", "main", "/other", b"o")  # the branch moves
    with pytest.raises(BranchMoved):
        commits.finish_commit(pg_client._ctx, "r", tx.id, mode="strict")
    done = pg_client.finish_commit("r", tx.id)
    assert pg_client.get_file("r", "main", "/x") == b"x"
    assert pg_client.get_file("r", "main", "/other") == b"o"
    assert done.parent == pg_client.inspect_commit("r", "main~1").id
    pg_client.close()
