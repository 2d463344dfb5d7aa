"""File pages over HTTP: previews by type, downloads, directory paging, a file's history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from datavc.server.console import files as console_files
from datavc.server.console import preview as console_preview
from tests.datavc.server.console.conftest import LABELS_V2, Console, tiny_png


@pytest.fixture(scope="module")
def http(console: Console) -> Iterator[httpx.Client]:
    with closing(console.session("reader")) as h:
        yield h


def test_csv_and_tsv_are_tables_json_and_text_are_highlighted(http: httpx.Client) -> None:
    page = http.get("/repos/raw/tree/main/labels.csv").text
    assert '<th scope="col">label</th>' in page and "<td>owl</td>" in page
    page = http.get("/repos/raw/tree/main/tab.tsv").text
    assert '<th scope="col">a</th>' in page and "<td>2</td>" in page
    page = http.get("/repos/raw/tree/main/meta.json").text
    assert '<span class="nt">"classes"</span>' in page  # pretty-printed, highlighted
    page = http.get("/repos/raw/tree/main/notes/readme.md").text
    assert 'class="hl"' in page and "Notes" in page
    assert http.get("/highlight.css").headers["content-type"].startswith("text/css")


def test_images_binaries_and_parquet(http: httpx.Client) -> None:
    page = http.get("/repos/raw/tree/main/cat.png").text
    src = re.search(r'<img src="([^"]+)"', page)
    assert src and src.group(1).endswith("/cat.png?inline=1")
    img = http.get(src.group(1).removeprefix("/ui"))
    assert img.headers["content-type"] == "image/png" and img.content == tiny_png()
    assert img.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert "binary content" in http.get("/repos/raw/tree/main/blob.bin").text
    pytest.importorskip("pyarrow")
    page = http.get("/repos/raw/tree/main/cols.parquet").text
    assert "<td>id</td><td>int64</td>" in page and "3 rows" in page and "<td>c</td>" in page


def test_download_streams_the_whole_file_as_an_attachment(http: httpx.Client) -> None:
    resp = http.get("/repos/raw/raw/main/labels.csv?inline=1")  # not an image: still an attachment
    assert resp.content == LABELS_V2
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["content-disposition"] == "attachment; filename*=UTF-8''labels.csv"
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_big_text_previews_only_the_start(console: Console, http: httpx.Client) -> None:
    line = b"x" * 99 + b"\n"
    big = line * (console_preview.PREVIEW_BYTES // len(line) + 50)
    console.srv.direct.create_branch("raw", "big", "main")
    console.srv.direct.put_file("raw", "big", "/big.txt", big)
    page = http.get("/repos/raw/tree/big/big.txt").text
    assert "shows the start of the file" in page
    assert page.count("x" * 99) <= console_preview.PREVIEW_BYTES // len(line)


def test_directories_page_and_history_lists_the_changes(
    console: Console, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_files, "DIR_PAGE", 3)
    page = http.get("/repos/raw/tree/main").text
    names = re.findall(r'tree/main/([^"]+)">', page)
    assert names == ["blob.bin", "cat.png", "cols.parquet"]
    nxt = re.search(r'href="\?after=([^"]+)">Next page', page)
    assert nxt is not None
    page = http.get(f"/repos/raw/tree/main?after={nxt.group(1)}").text
    assert re.findall(r'tree/main/([^"]+)">', page)[:1] == ["labels.csv"]
    page = http.get("/repos/raw/history/main/labels.csv").text
    assert page.count('class="badge modified"') == 1 and page.count('class="badge added"') == 1
    assert console.second_commit[:10] in page and console.first_commit[:10] in page
