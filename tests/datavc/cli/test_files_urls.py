"""``put`` from http(s) URLs and ``-i`` lists (``datavc.urls``), ``put`` to a missing branch, and
``ls`` with globs; URLs are served by a local ``http.server`` on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from tests.datavc.cli.helpers import Run, assert_error


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT``: serving a.txt, big.bin (3 MiB) and sub/b.csv; 404 otherwise."""
    root = tmp_path_factory.mktemp("site")
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "big.bin").write_bytes(bytes(range(256)) * 12288)
    (root / "sub").mkdir()
    (root / "sub" / "b.csv").write_bytes(b"x,y\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def files(store: Path, repo: str, branch: str = "main") -> dict[str, bytes]:
    with Client.open(store) as c:
        return {f.path: c.get_file(repo, branch, f.path) for f in c.walk_files(repo, branch)}


def test_put_urls_streams_them_into_one_commit(run: Run, store: Path, site: str) -> None:
    run("repo", "create", "r")
    out = run("put", "r@main:/web/", f"{site}/a.txt", f"{site}/sub/b.csv", f"{site}/big.bin").stdout
    assert out.startswith("r@main commit ") and "3 files" in out
    got = files(store, "r")
    assert got["/web/a.txt"] == b"alpha\n" and got["/web/b.csv"] == b"x,y\n"
    assert got["/web/big.bin"] == bytes(range(256)) * 12288


def test_put_one_url_to_a_path(run: Run, store: Path, site: str) -> None:
    run("repo", "create", "r")
    run("put", "r@main:/renamed.txt", f"{site}/a.txt")
    assert files(store, "r") == {"/renamed.txt": b"alpha\n"}


def test_put_from_a_url_list(run: Run, store: Path, site: str, tmp_path: Path) -> None:
    run("repo", "create", "r")
    local = tmp_path / "local.txt"
    local.write_bytes(b"local\n")
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# pages\n{site}/a.txt\n\n{site}/sub/b.csv\n{local}\n")
    run("put", "r", "-i", listing)
    assert files(store, "r") == {"/a.txt": b"alpha\n", "/b.csv": b"x,y\n", "/local.txt": b"local\n"}


def test_a_failing_url_fails_the_put_and_commits_nothing(run: Run, store: Path, site: str) -> None:
    run("repo", "create", "r")
    err = assert_error(run("put", "r", f"{site}/a.txt", f"{site}/missing.txt", code=None), 3)
    assert err == f"error: {site}/missing.txt: HTTP 404 File not found\n"
    with Client.open(store) as c:
        assert c.inspect_branch("r", "main").head is None
    closed = site.rsplit(":", 1)[0] + ":1"  # nothing listens on port 1
    err = assert_error(run("put", "r", f"{closed}/a.txt", code=None), 7)
    assert err.startswith(f"error: {closed}/a.txt: ConnectError: ")


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("file:///etc/passwd", "file:///etc/passwd: only http:// and https:// URLs can be put (got file://)"),
        (
            "ftp://example.org/x",
            "ftp://example.org/x: only http:// and https:// URLs can be put (got ftp://)",
        ),
        ("s3://bucket/key", "s3://bucket/key: only http:// and https:// URLs can be put (got s3://)"),
        ("http:///nohost", "http:///nohost: the URL has no host"),
        ("http://example.org/dir/", "http://example.org/dir/: the URL names no file; put it to a file path"),
    ],
)
def test_other_schemes_are_refused_before_anything_is_read(
    run: Run, store: Path, src: str, message: str
) -> None:
    run("repo", "create", "r")
    assert message in assert_error(run("put", "r", src, code=None), 2)


def test_put_to_a_missing_branch_creates_it_and_says_so(run: Run, store: Path, tmp_path: Path) -> None:
    run("repo", "create", "r")
    f = tmp_path / "f.txt"
    f.write_bytes(b"f")
    result = run("put", "r@master", f)
    assert result.stderr == "created branch r@master\n"
    assert files(store, "r", "master") == {"/f.txt": b"f"}
    assert run("put", "r@master:/g.txt", f).stderr == ""  # it exists now
    assert_error(run("put", "nope@master", f, code=None), 3)  # a missing repo is not created


def test_ls_with_globs(run: Run, store: Path, tmp_path: Path) -> None:
    run("repo", "create", "r")
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    for name in ("a.csv", "b.txt", "sub/c.csv"):
        (d / name).write_bytes(b"1")
    run("put", "r", d)
    assert run("ls", "r@main:/*.csv").stdout == "       1 B  /a.csv\n"
    assert run("ls", "r@main:/**/*.csv").stdout.split() == ["1", "B", "/a.csv", "1", "B", "/sub/c.csv"]
    assert run("ls", "r@main:/nothing*").stdout == ""
    assert "with a glob use '**'" in assert_error(run("ls", "-r", "r@main:/*", code=None), 2)
