"""Files through ``datavc.Client`` (``datavc/files.py``): put, get, list, glob, inspect, delete,
copy, diff and round-trips, on every deployment."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datavc.client import Client
from datavc.errors import Conflict, InvalidArgument, PathNotFound
from tests.datavc.helpers import assert_fsck_clean, files_of, object_ids, snapshot_state
from tests.helpers import make_tree


def test_put_sources_and_reads(client: Client, tmp_path: Path) -> None:
    client.create_repo("r")
    big = os.urandom(1_500_000)  # several content-defined chunks
    local = tmp_path / "local.bin"
    local.write_bytes(big)
    client.put_file("r", "main", "/bytes.txt", b"hello world")
    client.put_file("r", "main", "/stream.txt", io.BytesIO(b"streamed"))
    client.put_file("r", "main", "/big/local.bin", local)
    client.put_file("r", "main", "/big/pathstr.bin", str(local))
    c = client.put_file("r", "main", "/empty", b"")
    assert c.file_count == 5 and c.size == 11 + 8 + 2 * len(big)

    assert client.get_file("r", "main", "/bytes.txt") == b"hello world"
    assert client.get_file("r", "main", "stream.txt") == b"streamed"  # leading / optional
    assert client.get_file("r", "main", "/big/local.bin") == big
    assert client.get_file("r", "main", "/empty") == b""

    # Ranges and seeking.
    assert b"".join(client.iter_file("r", "main", "/bytes.txt", 6, 5)) == b"world"
    assert b"".join(client.iter_file("r", "main", "/bytes.txt", 6)) == b"world"
    start, length = 700_001, 600_000
    assert (
        b"".join(client.iter_file("r", "main", "/big/local.bin", start, length))
        == big[start : start + length]
    )
    with pytest.raises(InvalidArgument):
        b"".join(client.iter_file("r", "main", "/bytes.txt", 5, 100))
    with client.open_file("r", "main", "/big/local.bin") as f:
        assert f.read(10) == big[:10]
        f.seek(1_000_000)
        assert f.read(100) == big[1_000_000:1_000_100]
        f.seek(-5, io.SEEK_END)
        assert f.read() == big[-5:]
    with pytest.raises(InvalidArgument):
        client.get_file("r", "main", "/big")  # a directory
    with pytest.raises(PathNotFound):
        client.get_file("r", "main", "/nope")

    # get_to_path: one file (to a path or into a directory), and a whole directory.
    out = tmp_path / "out"
    out.mkdir()
    assert client.get_to_path("r", "main", "/bytes.txt", out / "x.txt") == 1
    assert (out / "x.txt").read_bytes() == b"hello world"
    assert client.get_to_path("r", "main", "/stream.txt", out) == 1
    assert (out / "stream.txt").read_bytes() == b"streamed"
    assert client.get_to_path("r", "main", "/big", out / "bigdir") == 2
    assert sorted(p.name for p in (out / "bigdir").iterdir()) == ["local.bin", "pathstr.bin"]
    assert (out / "bigdir" / "pathstr.bin").read_bytes() == big
    assert client.get_to_path("r", "main", "/", out / "all") == 5
    assert (out / "all" / "big" / "local.bin").read_bytes() == big
    assert (out / "all" / "empty").read_bytes() == b""


def test_put_directory_merges(client: Client, tmp_path: Path) -> None:
    client.create_repo("r")
    d1 = make_tree(tmp_path / "d1", {"a.txt": b"a1", "sub/b.txt": b"b1", "sub/deep/c.txt": b"c1"})
    c = client.put_file("r", "main", "/data", d1)
    assert c.file_count == 3
    assert files_of(client, "r") == {
        "/data/a.txt": b"a1",
        "/data/sub/b.txt": b"b1",
        "/data/sub/deep/c.txt": b"c1",
    }

    # A second directory merges: same names are replaced, others stay, new ones are added.
    d2 = make_tree(tmp_path / "d2", {"a.txt": b"a2", "sub/new.txt": b"n", "top.txt": b"t"})
    client.put_file("r", "main", "/data", d2)
    assert files_of(client, "r") == {
        "/data/a.txt": b"a2",
        "/data/sub/b.txt": b"b1",
        "/data/sub/deep/c.txt": b"c1",
        "/data/sub/new.txt": b"n",
        "/data/top.txt": b"t",
    }
    diff = {d.path: d.status for d in client.diff("r", "main")}
    assert diff == {"/data/a.txt": "modified", "/data/sub/new.txt": "added", "/data/top.txt": "added"}

    # Into the root, and into an open commit.
    client.put_file("r", "main", "/", make_tree(tmp_path / "d3", {"root.txt": b"r"}))
    assert client.get_file("r", "main", "/root.txt") == b"r"
    assert client.get_file("r", "main", "/data/top.txt") == b"t"
    with client.commit("r") as tx:
        tx.put_file("/data/sub", make_tree(tmp_path / "d4", {"b.txt": b"b2"}))
    assert client.get_file("r", "main", "/data/sub/b.txt") == b"b2"
    assert client.get_file("r", "main", "/data/sub/new.txt") == b"n"

    # A directory cannot go where a file is; nothing changes.
    before = snapshot_state(client)
    with pytest.raises(Conflict):
        client.put_file("r", "main", "/root.txt", d1)
    with pytest.raises(InvalidArgument):
        client.put_file("r", "main", "/", b"a file at the root")
    with pytest.raises(InvalidArgument):
        client.put_file("r", "main", "/f", tmp_path / "does-not-exist")
    assert snapshot_state(client) == before
    assert_fsck_clean(client)


def test_list_glob_inspect(client: Client) -> None:
    client.create_repo("r")
    with client.commit("r") as tx:
        tx.put_file("/a.csv", b"1,2\n")
        tx.put_file("/b.txt", b"hello")
        tx.put_file("/data/x.csv", b"xx")
        tx.put_file("/data/y.json", b"{}")
        tx.put_file("/data/deep/z.csv", b"zzz")
    top = list(client.list_files("r", "main"))
    assert [(f.path, f.kind, f.size, f.file_count) for f in top] == [
        ("/a.csv", "file", 4, 1),
        ("/b.txt", "file", 5, 1),
        ("/data", "dir", 7, 3),
    ]
    commit = client.inspect_commit("r", "main").id
    assert all(f.repo == "r" and f.commit == commit for f in top)
    assert [f.path for f in client.list_files("r", "main", "/data")] == [
        "/data/deep",
        "/data/x.csv",
        "/data/y.json",
    ]
    rec = list(client.list_files("r", "main", "/", recursive=True))
    assert [(f.path, f.size) for f in rec] == [
        ("/a.csv", 4),
        ("/b.txt", 5),
        ("/data/deep/z.csv", 3),
        ("/data/x.csv", 2),
        ("/data/y.json", 2),
    ]
    assert [f.path for f in client.walk_files("r", "main", "/data")] == [
        "/data/deep/z.csv",
        "/data/x.csv",
        "/data/y.json",
    ]
    assert [f.path for f in client.list_files("r", "main", "/b.txt")] == ["/b.txt"]
    with pytest.raises(PathNotFound):
        list(client.list_files("r", "main", "/nope"))

    def glob(p: str) -> list[str]:
        return sorted(f.path for f in client.glob_files("r", "main", p))

    assert glob("/*.csv") == ["/a.csv"]
    assert glob("/*") == ["/a.csv", "/b.txt", "/data"]
    assert glob("/data/*") == ["/data/deep", "/data/x.csv", "/data/y.json"]
    assert glob("/**/*.csv") == ["/a.csv", "/data/deep/z.csv", "/data/x.csv"]
    assert glob("/data/**/*.csv") == ["/data/deep/z.csv", "/data/x.csv"]
    assert glob("/*/?.json") == ["/data/y.json"]
    assert glob("/[ab].*") == ["/a.csv", "/b.txt"]
    assert "/data/deep/z.csv" in glob("/**")
    assert glob("/nothing*") == []

    fi = client.inspect_file("r", "main", "/data/x.csv")
    assert (fi.path, fi.kind, fi.size, fi.file_count) == ("/data/x.csv", "file", 2, 1)
    assert fi.hash == client.context.store.algorithm.digest(b"xx")
    di = client.inspect_file("r", "main", "/data")
    assert (di.kind, di.size, di.file_count) == ("dir", 7, 3)
    root = client.inspect_file("r", "main", "/")
    assert (root.kind, root.size, root.file_count) == ("dir", 16, 5)
    assert root.hash == client.inspect_commit("r", "main").tree
    with pytest.raises(PathNotFound):
        client.inspect_file("r", "main", "/data/nope")


def test_delete_files(client: Client) -> None:
    client.create_repo("r")
    with client.commit("r") as tx:
        for p in ["/a", "/b", "/d/x", "/d/y", "/e/z"]:
            tx.put_file(p, p.encode())
    c = client.delete_file("r", "main", "/a")
    assert c.file_count == 4 and c.message == "delete /a"
    client.delete_file("r", "main", ["/b", "/d"])
    assert files_of(client, "r") == {"/e/z": b"/e/z"}
    before = snapshot_state(client)
    with pytest.raises(PathNotFound):
        client.delete_file("r", "main", "/a")
    with pytest.raises(PathNotFound):
        client.delete_file("r", "main", ["/e/z", "/missing"])  # all or nothing
    with pytest.raises(InvalidArgument):
        client.delete_file("r", "main", [])
    with pytest.raises(InvalidArgument):
        client.delete_file("r", "main", "/")
    assert snapshot_state(client) == before
    assert client.list_open_commits("r") == []


def test_copy_writes_no_new_data(client: Client) -> None:
    client.create_repo("src")
    client.create_repo("dst")
    payload = os.urandom(800_000)
    with client.commit("src") as tx:
        tx.put_file("/dir/big.bin", payload)
        tx.put_file("/dir/small.txt", b"small")
    client.put_file("dst", "main", "/existing", b"e")
    store = client.context.store
    before = object_ids(client)

    client.copy_file("src", "main", "/dir/big.bin", "src", "main", "/copy/big.bin")
    client.copy_file("src", "main", "/dir", "dst", "main", "/imported")
    client.copy_file("src", "main~0", "/dir/small.txt", "dst", "main", "/s.txt")

    # Only tree objects (directory listings) are new: no byte of file content was stored again.
    new = object_ids(client) - before
    assert new and all(store.is_tree(oid) for oid in new)
    assert client.get_file("src", "main", "/copy/big.bin") == payload
    assert files_of(client, "dst") == {
        "/existing": b"e",
        "/imported/big.bin": payload,
        "/imported/small.txt": b"small",
        "/s.txt": b"small",
    }
    a = client.inspect_file("src", "main", "/dir/big.bin")
    b = client.inspect_file("dst", "main", "/imported/big.bin")
    assert (a.hash, a.size) == (b.hash, b.size)
    with pytest.raises(PathNotFound):
        client.copy_file("src", "main", "/nope", "dst", "main", "/x")
    assert_fsck_clean(client)


def test_diff(client: Client) -> None:
    client.create_repo("r")
    with client.commit("r") as tx:
        tx.put_file("/keep", b"same")
        tx.put_file("/mod", b"12345")
        tx.put_file("/gone/x", b"xyz")
    c1 = client.inspect_commit("r", "main")
    # First commit against nothing: all added.
    assert sorted((d.path, d.status, d.old_size, d.new_size) for d in client.diff("r", "main")) == [
        ("/gone/x", "added", None, 3),
        ("/keep", "added", None, 4),
        ("/mod", "added", None, 5),
    ]
    with client.commit("r") as tx:
        tx.put_file("/mod", b"1234567")
        tx.delete_file("/gone")
        tx.put_file("/new/y", b"yy")
    d = {x.path: x for x in client.diff("r", "main")}
    assert {p: (x.status, x.old_size, x.new_size) for p, x in d.items()} == {
        "/mod": ("modified", 5, 7),
        "/gone/x": ("deleted", 3, None),
        "/new/y": ("added", None, 2),
    }
    assert d["/mod"].old_hash == client.context.store.algorithm.digest(b"12345")
    assert d["/mod"].new_hash == client.context.store.algorithm.digest(b"1234567")
    # Two refs, both directions.
    assert {x.path: x.status for x in client.diff("r", c1.id, "main")} == {p: x.status for p, x in d.items()}
    back = {x.path: x.status for x in client.diff("r", "main", c1.id)}
    assert back == {"/mod": "modified", "/gone/x": "added", "/new/y": "deleted"}
    assert list(client.diff("r", "main", "main")) == []
    # Across repos.
    client.create_repo("r2")
    client.put_file("r2", "main", "/keep", b"same")
    cross = {x.path: x.status for x in client.diff("r", c1.id, "main", b_repo="r2")}
    assert cross == {"/mod": "deleted", "/gone/x": "deleted"}


@pytest.fixture(scope="module")
def rt_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """One embedded store shared by the examples of the hypothesis round-trip."""
    with Client.init(tmp_path_factory.mktemp("rt")) as c:
        yield c


@settings(max_examples=30)  # each example is a commit: keep the suite fast
@given(
    st.dictionaries(
        st.lists(
            st.text(
                st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
                min_size=1,
                max_size=12,
            ).filter(lambda s: s not in (".", "..")),
            min_size=1,
            max_size=3,
        ).map(lambda parts: "/" + "/".join(parts)),
        st.binary(max_size=2000),
        min_size=1,
        max_size=8,
    )
)
def test_round_trip_random_paths(rt_client: Client, files: dict[str, bytes]) -> None:
    # A file path must not also be a directory prefix of another path.
    paths = sorted(files)
    if any(q.startswith(p + "/") for p in paths for q in paths):
        return
    repo = "r" + uuid.uuid4().hex[:12]  # one store for every example; a fresh repo for each
    rt_client.create_repo(repo)
    with rt_client.commit(repo) as tx:
        for p, data in files.items():
            tx.put_file(p, data)
    assert files_of(rt_client, repo) == files
    c = rt_client.inspect_commit(repo, "main")
    assert (c.file_count, c.size) == (len(files), sum(map(len, files.values())))


def test_round_trip_each_deployment(client: Client) -> None:
    # The hypothesis round-trip runs on SQLite for speed; the same data shapes on every deployment here.
    files = {"/ünï/cödé.bin": os.urandom(3000), "/sp ace/x y": b"", "/a-b/c_d.e.f": b"\x00\xff" * 100}
    client.create_repo("r")
    with client.commit("r") as tx:
        for p, data in files.items():
            tx.put_file(p, data)
    assert files_of(client, "r") == files
