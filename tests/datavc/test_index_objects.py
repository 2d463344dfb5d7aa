"""Large files whose refs live in an index object (``storage/index.py``), end to end.

``INLINE_MAX`` is lowered to 1 so a 12 MiB file (three or so 4 MiB chunks) is indexed, as a
file of more than a GiB is in real use. Every path that reads refs must follow the index:
reads and ranges, ``get -o``, checkout, rollback, gc's reachability, fsck, and the remote
client's ranged GETs; a hostile index is an integrity error (exit 6), never a crash.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from datavc import transfer
from datavc.cli import main
from datavc.client import Client
from storage import index
from tests.datavc.crafting import commit_with_tree, page, put_raw
from tests.datavc.server.conftest import start_server

MiB = 1024 * 1024
BIG = random.Random(15).randbytes(12 * MiB)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setattr(index, "INLINE_MAX", 1)
    with Client.init(tmp_path / "store") as c:
        c.create_repo("r")
        c.put_file("r", "main", "/d/big.bin", BIG)
        yield c


def _entry_index(client: Client, ref: str = "main") -> str:
    tree = client.inspect_commit("r", ref).tree
    e = client.context.store.get_entry(tree, "d/big.bin")
    assert e is not None and e.index and not e.refs
    return e.index


def _cli(home: Path, *args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--home", str(home), *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_reads_rollback_and_gc_follow_the_index(world: Client, tmp_path: Path) -> None:
    client = world
    first = _entry_index(client)
    assert client.get_file("r", "main", "/d/big.bin") == BIG
    assert (
        b"".join(client.iter_file("r", "main", "/d/big.bin", 5 * MiB - 3, 2 * MiB))
        == BIG[5 * MiB - 3 : 7 * MiB - 3]
    )
    v1 = client.inspect_commit("r", "main").id
    edited = BIG[: 6 * MiB] + b"edit" + BIG[6 * MiB + 4 :]
    client.put_file("r", "main", "/d/big.bin", edited)
    assert _entry_index(client) != first
    assert [d.path for d in client.diff("r", v1, "main")] == ["/d/big.bin"]
    client.rollback("r", "main", v1)
    assert _entry_index(client) == first and client.get_file("r", "main", "/d/big.bin") == BIG
    # get -o writes the file whole; gc keeps the index and every chunk of both versions.
    code, _, err = _cli(tmp_path / "store", "get", "r@main:/d/big.bin", "-o", tmp_path / "out.bin")
    assert code == 0, err
    assert (tmp_path / "out.bin").read_bytes() == BIG
    client.gc(grace=timedelta(0), force=True)
    assert client.fsck().ok
    assert client.get_file("r", v1, "/d/big.bin") == BIG
    assert client.get_file("r", "main~1", "/d/big.bin") == edited


def test_fsck_reports_a_missing_or_corrupt_index(world: Client, tmp_path: Path) -> None:
    client = world
    oid = _entry_index(client)
    backend = client.context.raw_store.backend
    good = backend.get(oid)
    backend.delete(oid)
    report = client.fsck()
    assert report.missing_objects == (oid,)
    backend.put(oid, b"X" + good[1:])  # damaged in place
    report = client.fsck()
    assert report.corrupt_objects == (oid,)
    code, out, err = _cli(tmp_path / "store", "fsck")
    assert code == 6 and oid in out and err == "error: fsck found 1 problem\n"


@pytest.mark.parametrize(
    "body",
    [
        {"h": 0, "r": ["0" * 32, -1, 10]},  # a negative offset
        {"h": 1, "c": ["0" * 32, 10**12, 12 * MiB]},  # a huge count
        {"h": 0, "r": []},  # no refs for 12 MiB
    ],
)
def test_a_hostile_index_is_exit_6_not_a_crash(
    world: Client, tmp_path: Path, body: dict[str, object]
) -> None:
    client = world
    bad = put_raw(client, index.MAGIC + json.dumps(body).encode())
    digest = client.context.store.algorithm.digest(BIG)
    tree = put_raw(client, page([["big.bin", "i", len(BIG), digest, bad]]))
    commit_with_tree(client, "r", tree)
    (tmp_path / "t").mkdir()
    code, _out, err = _cli(tmp_path / "store", "get", "r@main:/big.bin", "-o", tmp_path / "t" / "big.bin")
    assert code == 6, err
    assert err.startswith("error: ") and err.count("\n") == 1 and bad in err and "Traceback" not in err
    assert list((tmp_path / "t").iterdir()) == []  # no partial file, no temp file left
    assert not client.fsck().ok


def test_remote_ranged_gets_of_an_indexed_file(
    world: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "PART", 1 * MiB + 17)  # many ranges, each crossing chunk edges
    srv = start_server(world)
    try:
        rc = srv.client(srv.admin_token)
        assert rc.get_to_path("r", "main", "/d/big.bin", tmp_path / "remote.bin") == 1
        assert (tmp_path / "remote.bin").read_bytes() == BIG
    finally:
        for c in srv.clients:
            c.close()
        srv.stop()
