"""Console fixtures: one server over quickstart-like data for all console tests, and log-in helpers."""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from datavc import accounts
from datavc.client import Client
from tests.datavc.pipelines.helpers import run_ok, sh, upper_copy
from tests.datavc.server.conftest import Server, start_server

LABELS_V1 = b"image,label,score\ncat.png,cat,0.91\ndog.png,dog,0.88\n"
LABELS_V2 = b"image,label,score\ncat.png,cat,0.93\ndog.png,dog,0.88\nowl.png,owl,0.75\n"


def tiny_png() -> bytes:
    """A valid 1x1 PNG (made here: no binary fixture file)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0\xff\x80\x00"))
        + chunk(b"IEND", b"")
    )


def parquet_bytes() -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}), buf)
    return buf.getvalue()


@dataclass
class Console:
    """The running server, its tokens, and the ids the tests look for."""

    srv: Server
    tokens: dict[str, str]
    first_commit: str
    second_commit: str

    @property
    def url(self) -> str:
        return self.srv.url + "/ui"

    def session(self, who: str) -> httpx.Client:
        """An HTTP client logged in to the console as ``who``."""
        http = httpx.Client(base_url=self.url)
        login(http, self.tokens[who])
        return http


def login(http: httpx.Client, token: str, next: str = "") -> httpx.Response:
    page = http.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    return http.post("/login", data={"token": token, "csrf": csrf.group(1), "next": next})


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def make_data(c: Client) -> tuple[str, str]:
    """Repo ``raw`` (two commits), pipeline ``upper`` over it (run), like the quickstart's data."""
    c.create_repo("raw", "labelled images")
    first = c.put_file("raw", "main", "/labels.csv", LABELS_V1, message="first labels").id
    with c.commit("raw", "main", "more labels and samples") as tx:
        tx.put_file("/labels.csv", LABELS_V2)
        tx.put_file("/notes/readme.md", b"# Notes\n\nSome *markdown*.\n")
        tx.put_file("/meta.json", b'{"classes": ["cat", "dog", "owl"], "version": 2}')
        tx.put_file("/cat.png", tiny_png())
        tx.put_file("/blob.bin", bytes(range(256)) * 4)
        tx.put_file("/tab.tsv", b"a\tb\n1\t2\n")
        tx.put_file("/cols.parquet", parquet_bytes())
    second = c.inspect_commit("raw", "main").id
    c.create_pipeline(
        name="upper",
        input={"pfs": {"repo": "raw", "branch": "main", "glob": "/*.csv"}},
        transform={"cmd": sh(upper_copy("raw"))},
    )
    run_ok(c)
    return first, second


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One server for every console test module (the tests only add branches, users and
    pipelines of their own, so they do not see each other's changes)."""
    direct = Client.init(tmp_path_factory.mktemp("console") / "store")
    first, second = make_data(direct)
    srv = start_server(direct)
    tokens = {"admin": srv.admin_token}
    for who in ("reader", "writer"):
        tokens[who] = srv.user(who)
        for repo in ("raw", "upper"):
            accounts.grant_role(direct.context, repo, who, who)
    tokens["stranger"] = srv.user("stranger")
    yield Console(srv, tokens, first, second)
    srv.stop()
    direct.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots (under the test run's tmp output dir)."""
    return tmp_path_factory.mktemp("console-screenshots")
