"""``Client.diff_content`` (``datavc/content_diff.py``): unified diffs for text, CSV row/column summaries."""

from __future__ import annotations

from pathlib import Path

from datavc.client import Client


def test_content_diff_text_csv_binary_and_size_cap(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store") as c:
        c.create_repo("r")
        with c.commit("r", "main") as tx:
            tx.put_file("/notes.txt", b"one\ntwo\nthree\n")
            tx.put_file("/people.csv", b"id,name\n1,ana\n2,bob\n")
            tx.put_file("/blob.bin", b"\x00\x01")
            tx.put_file("/big.txt", b"x" * 2000)
        with c.commit("r", "main") as tx:
            tx.put_file("/notes.txt", b"one\n2\nthree\nfour\n")
            tx.put_file("/people.csv", b"id,name,age\n2,bob,3\n3,cy,4\n")
            tx.put_file("/blob.bin", b"\x00\x02")
            tx.put_file("/big.txt", b"y" * 2000)
            tx.put_file("/new.txt", b"hello\n")
        got = {d.path: d for d in c.diff_content("r", "main", max_bytes=1000)}
        notes = got["/notes.txt"]
        assert (notes.kind, notes.lines_added, notes.lines_removed) == ("text", 2, 1)
        assert "-two\n+2\n" in notes.unified and notes.unified.startswith(
            "--- a/notes.txt\n+++ b/notes.txt\n"
        )
        people = got["/people.csv"]
        assert (people.kind, people.header_changed, people.columns_added, people.columns_removed) == (
            "csv",
            True,
            ("age",),
            (),
        )
        assert (people.rows_added, people.rows_removed) == (2, 2)
        assert (got["/blob.bin"].kind, got["/big.txt"].kind) == ("binary", "too-large")
        assert (got["/new.txt"].status, got["/new.txt"].lines_added) == ("added", 1)
        assert got["/big.txt"].unified == "" and got["/big.txt"].new_size == 2000
        # the same rows in another order are no row change
        c.put_file("r", "main", "/people.csv", b"id,name,age\n3,cy,4\n2,bob,3\n")
        (same,) = c.diff_content("r", "main")
        assert (same.rows_added, same.rows_removed, same.header_changed) == (0, 0, False)
