"""Hostile names, paths and destinations at the command line: one ``error:`` line, the
category's exit code, no traceback, stored data intact; text output escapes what a
terminal would interpret; a closed stdout pipe ends the command quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datavc.client import Client
from tests.datavc.cli.helpers import Run, assert_error
from tests.datavc.crafting import commit_with_tree, dir_item, file_item, page, put_raw


@pytest.fixture
def repo(store: Path, data: Path, run: Run) -> str:
    run("repo", "create", "r")
    run("put", "r", data)
    return "r"


def _listing(run: Run) -> str:
    out: str = run("ls", "-r", "--json", "r@main").stdout
    return out


@pytest.mark.parametrize(
    "path",
    [
        "/a\nb.txt",  # newline
        "/a\x1b[31mb.txt",  # ESC
        "/dir\x07/x",  # BEL in a directory name
        "/a\x00b",  # NUL
        "/a\x9bb",  # C1 control (CSI)
        "/" + "n" * 256,  # a name over 255 bytes
        "/" + "/".join(["d" * 200] * 21),  # a path over 4,096 bytes
        "/" + "/".join(["a"] * 2000),  # 2,000 levels deep
        "//a",  # empty segments, leading, inner or trailing
        "/a//b",
        "/a//",
        "/../x",
        "/a/./b",
    ],
)
def test_put_refuses_bad_paths(repo: str, data: Path, run: Run, path: str) -> None:
    before = _listing(run)
    assert_error(run("put", f"r@main:{path}", data / "a.txt", code=None), 2)
    assert _listing(run) == before


def test_put_refuses_bad_names_inside_a_local_directory(repo: str, tmp_path: Path, run: Run) -> None:
    before = _listing(run)
    for name in ("a\nb", "a\x1bb"):
        src = tmp_path / f"src-{len(name)}-{ord(name[1])}"
        src.mkdir()
        (src / "ok.txt").write_bytes(b"ok\n")
        (src / name).write_bytes(b"bad\n")
        err = assert_error(run("put", "r@main:/in", src, code=None), 2)
        assert "control characters" in err
    assert _listing(run) == before


def test_put_refuses_a_local_directory_deeper_than_the_limit(repo: str, tmp_path: Path, run: Run) -> None:
    deep = tmp_path / "deep"
    p = str(deep)
    for _ in range(300):
        p = os.path.join(p, "d")
    os.makedirs(p)
    Path(p, "f").write_bytes(b"x")
    before = _listing(run)
    assert "deeper than 256 levels" in assert_error(run("put", "r@main:/deep", deep, code=None), 2)
    # a directory that fits alone but not below the path it is put at
    shallow = tmp_path / "shallow"
    Path(shallow, *["d"] * 200).mkdir(parents=True)
    Path(shallow, *["d"] * 200, "f").write_bytes(b"x")
    at = "/".join(["p"] * 100)
    assert "deeper than 256 levels" in assert_error(run("put", f"r@main:/{at}", shallow, code=None), 2)
    assert _listing(run) == before


@pytest.mark.parametrize("address", ["r@main://a", "r@main:/a//b", "r@main:a//", "r@main@x:/a", "r@@main:/a"])
def test_addresses_with_empty_segments_or_junk_are_refused(repo: str, run: Run, address: str) -> None:
    assert_error(run("ls", address, code=None), 2)
    assert_error(run("get", address, code=None), 2)


def test_a_colon_path_may_hold_an_at_sign(repo: str, data: Path, run: Run) -> None:
    run("put", "r@main:/img@2x.png", data / "a.txt")
    assert run("get", "r:/img@2x.png").stdout == "hello\n"


def test_text_output_escapes_unprintable_characters(repo: str, data: Path, run: Run) -> None:
    name = "/line\u2028sep.txt"  # a Unicode line separator: a valid name, not printable
    message = "evil \x1b[2J\x1b[31mmessage"
    run("put", "-m", message, f"r@main:{name}", data / "a.txt")
    ls = run("ls", "r@main").stdout
    assert "\u2028" not in ls and "/line\\u2028sep.txt" in ls
    log = run("log", "r@main").stdout
    assert "\x1b" not in log and "evil \\x1b[2J\\x1b[31mmessage" in log
    show = run("show", "r@main").stdout
    assert "\x1b" not in show
    diff = run("diff", "r@main").stdout
    assert "\u2028" not in diff and "line\\u2028sep.txt" in diff
    # --json stays exact
    assert name in [f["path"] for f in json.loads(run("ls", "--json", "r@main").stdout)]
    assert json.loads(run("log", "--json", "r@main").stdout)[0]["message"] == message


def test_ls_json_over_a_corrupt_subtree_is_valid_json(repo: str, store: Path, run: Run) -> None:
    with Client.open(store) as c:
        good = put_raw(c, page([file_item(c, "a.txt"), file_item(c, "b.txt")]))
        bad = put_raw(c, page([file_item(c, "..")]))
        root = put_raw(c, page([dir_item(c, "a", good, count=2), dir_item(c, "z", bad)]))
        commit_with_tree(c, "r", root)
    result = run("ls", "-r", "--json", "r@main", code=None)
    assert bad in assert_error(result, 6)
    listed = json.loads(result.stdout)  # the array is closed: one valid document
    assert [f["path"] for f in listed] == ["/a/a.txt", "/a/b.txt"]
    text = run("ls", "-r", "r@main", code=None)
    assert bad in assert_error(text, 6)


def test_get_onto_existing_things(repo: str, tmp_path: Path, run: Run) -> None:
    existing = tmp_path / "existing"
    existing.write_bytes(b"keep\n")
    assert_error(run("get", "r@main:/sub", "-o", os.devnull, code=None), 4)
    assert_error(run("get", "r@main:/sub", "-o", existing, code=None), 4)
    assert existing.read_bytes() == b"keep\n"
    d = tmp_path / "d"
    d.mkdir()
    run("get", "r@main:/a.txt", "-o", d)  # into the directory, as cp does
    assert (d / "a.txt").read_bytes() == b"hello\n"
    run("get", "r@main:/a.txt", "-o", os.devnull)
    assert_error(run("get", "r@main:/a.txt", "-o", tmp_path / "missing" / "f", code=None), 2)


def _datavc() -> str:
    return str(Path(sys.executable).with_name("datavc"))


@pytest.mark.parametrize(
    "args",
    [["get", "r@main:/big"], ["ls", "-r", "r@main"], ["ls", "-r", "--json", "r@main"], ["log", "r@main"]],
)
def test_a_closed_stdout_pipe_exits_quietly(
    repo: str, store: Path, tmp_path: Path, run: Run, args: list[str]
) -> None:
    big = tmp_path / "big"
    big.write_bytes(os.urandom(4 << 20))
    many = tmp_path / "many"
    many.mkdir()
    for i in range(3000):
        (many / f"f{i}").write_bytes(b"x")
    run("put", "r@main:/big", big)
    run("put", "r@main:/many", many)
    for _ in range(30):
        run("put", "-m", "one more", "r@main:/n.txt", big)
    env = {**os.environ, "DATAVC_HOME": str(store)}
    cmd = [_datavc(), *args]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(1)
        proc.stdout.close()  # the reader goes away, as `| head -c1` does
        err = proc.stderr.read()
        code = proc.wait(timeout=120)
    assert code in (0, 141), (code, err)
    assert err == b"", err
