"""Status against the per-directory cache of the checkout index (``datavc/localscan.py``)."""

from __future__ import annotations

import os
import random
import sqlite3
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.localscan import META


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with Client.init(str(tmp_path_factory.mktemp("localscan") / "home")) as c:
        c.create_repo("r")
        with c.commit("r") as tx:
            for d in ("a", "b", "b/deep", "c"):
                for i in range(3):
                    tx.put_file(f"/{d}/f{i}.txt", f"{d} {i}".encode())
            tx.put_file("/top.txt", b"top")
        yield c


@pytest.fixture
def wd(client: Client, tmp_path: Path) -> tuple[Client, Path]:
    """A fresh checkout of r@main (tests that commit leave the branch as they found it in content)."""
    wd = tmp_path / "wd"
    client.checkout("r", "main", wd)
    return client, wd


def _changes(c: Client, wd: Path) -> list[tuple[str, str]]:
    return [(ch.path, ch.status) for ch in c.status(wd).changes]


def _cached(wd: Path) -> set[str]:
    with sqlite3.connect(wd / META / "index.sqlite") as db:
        return {r[0] for r in db.execute("SELECT dir FROM dirs")}


def test_clean_status_caches_every_directory_and_edits_drop_them(wd: tuple[Client, Path]) -> None:
    c, root = wd
    assert _changes(c, root) == []
    assert _cached(root) == {"", "a/", "b/", "b/deep/", "c/"}
    assert _changes(c, root) == []  # from the cache
    (root / "b" / "f1.txt").write_bytes(b"longer content")
    assert _changes(c, root) == [("/b/f1.txt", "modified")]
    assert "b/" in _cached(root)  # the cache holds the index, which did not change
    c.commit_workdir(root, "edit")
    assert "b/" not in _cached(root) and "b/deep/" in _cached(root)  # its index row changed
    assert _changes(c, root) == []
    assert "b/" in _cached(root)


def test_deleted_directories_added_files_and_order(wd: tuple[Client, Path]) -> None:
    c, root = wd
    assert _changes(c, root) == []
    for f in (root / "b" / "deep").iterdir():
        f.unlink()
    (root / "b" / "deep").rmdir()
    (root / "b" / "deep2").mkdir()
    (root / "b" / "deep2" / "n.txt").write_bytes(b"n")
    (root / "a" / "f0.txt").unlink()
    (root / "c" / "f0.txt").write_bytes(b"c x")  # same size, new content
    os.utime(root / "c" / "f1.txt", ns=(1, 1))  # touched: same content
    os.symlink("/etc/passwd", root / "a" / "link")
    skipped: list[str] = []
    got = [(ch.path, ch.status) for ch in c.status(root, on_skip=lambda p, _why: skipped.append(p)).changes]
    assert got == [
        ("/a/f0.txt", "deleted"),
        ("/b/deep/f0.txt", "deleted"),
        ("/b/deep/f1.txt", "deleted"),
        ("/b/deep/f2.txt", "deleted"),
        ("/b/deep2/n.txt", "added"),
        ("/c/f0.txt", "modified"),
    ]
    assert skipped == ["/a/link"]
    # The touched file's index row was refreshed: its directory is clean again but for f0.
    with sqlite3.connect(root / META / "index.sqlite") as db:
        (mtime,) = db.execute("SELECT mtime_ns FROM files WHERE path = 'c/f1.txt'").fetchone()
    assert mtime == 1


def test_a_cached_directory_follows_index_rows_written_by_anyone(wd: tuple[Client, Path]) -> None:
    c, root = wd
    assert _changes(c, root) == []
    with sqlite3.connect(root / META / "index.sqlite") as db:
        db.execute("DELETE FROM files WHERE path = 'a/f2.txt'")
        db.execute("UPDATE files SET size = 99 WHERE path = 'top.txt'")
    assert _changes(c, root) == [("/a/f2.txt", "added"), ("/top.txt", "modified")]


def test_an_index_from_before_the_cache_is_used_as_is(wd: tuple[Client, Path]) -> None:
    c, root = wd
    with sqlite3.connect(root / META / "index.sqlite") as db:
        db.execute("DROP TABLE dirs")
        for t in ("files_ins", "files_upd", "files_del"):
            db.execute(f"DROP TRIGGER {t}")
    (root / "top.txt").unlink()
    assert _changes(c, root) == [("/top.txt", "deleted")]
    assert "a/" in _cached(root)


def test_adopt_writes_the_cache_status_then_uses(client: Client, tmp_path: Path) -> None:
    c = client
    c.create_repo("adopted")
    d = tmp_path / "d"
    for rel in ("a.txt", "x/b.txt", "x/y/c.txt", "x/z.txt", "only/dirs/e.txt", "é/f.txt"):
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(rel.encode())
    c.adopt("adopted", "main", d)
    assert _cached(d) == {"", "x/", "x/y/", "only/", "only/dirs/", "é/"}
    with sqlite3.connect(d / META / "index.sqlite") as db:
        (names,) = db.execute("SELECT names FROM dirs WHERE dir = 'x/'").fetchone()
        assert sorted(names.split("/")) == ["b.txt", "z.txt"]
        assert db.execute("SELECT names FROM dirs WHERE dir = 'only/'").fetchone() == ("",)
    with sqlite3.connect(d / META / "index.sqlite") as db:  # adopt loads without them, then restores them
        triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert triggers == {"files_ins", "files_upd", "files_del"}
    assert _changes(c, d) == []
    (d / "x" / "z.txt").write_bytes(b"longer than before")
    assert _changes(c, d) == [("/x/z.txt", "modified")]


def _row_names(wd: Path, d: str) -> list[str]:
    with sqlite3.connect(wd / META / "index.sqlite") as db:
        (names,) = db.execute("SELECT names FROM dirs WHERE dir = ?", (d,)).fetchone()
    return str(names).split("/")


def test_rows_keep_the_listing_order_and_a_name_ordered_row_is_rewritten(
    client: Client, tmp_path: Path
) -> None:
    c = client
    c.create_repo("many")
    d = tmp_path / "many"
    (d / "m").mkdir(parents=True)
    made = list(range(64))
    random.Random(7).shuffle(made)  # made out of name order: no file system then lists them sorted
    for i in made:
        (d / "m" / f"f{i:02d}").write_bytes(b"x" * i)
    c.adopt("many", "main", d)
    listed = [e.name for e in os.scandir(d / "m")]
    assert listed != sorted(listed)
    assert _row_names(d, "m/") == listed  # adopt wrote the row in scandir order
    assert _changes(c, d) == []
    # A row in name order (as an older datavc wrote it) is still clean, and rewritten.
    with sqlite3.connect(d / META / "index.sqlite") as db:
        db.execute("UPDATE dirs SET names = ? WHERE dir = 'm/'", ("/".join(sorted(listed)),))
        (sizes,) = db.execute("SELECT sizes FROM dirs WHERE dir = 'm/'").fetchone()
        by_name = dict(zip(listed, memoryview(sizes).cast("q").tolist(), strict=True))
        db.execute(
            "UPDATE dirs SET sizes = ?, mtimes = ? WHERE dir = 'm/'",
            (
                array("q", [by_name[n] for n in sorted(listed)]).tobytes(),
                array("q", [os.lstat(d / "m" / n).st_mtime_ns for n in sorted(listed)]).tobytes(),
            ),
        )
    assert _changes(c, d) == []
    assert _row_names(d, "m/") == listed
    # A file replaced by a directory of the same name, and a directory by a file.
    (d / "m" / "f03").unlink()
    (d / "m" / "f03").mkdir()
    (d / "m" / "f03" / "in.txt").write_bytes(b"in")
    assert _changes(c, d) == [("/m/f03", "deleted"), ("/m/f03/in.txt", "added")]
