"""Symbolic links: ``put`` and ``commit`` never follow one out of the source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.datavc.cli.helpers import Run, assert_error


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A source directory full of links, beside a secret outside it."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"SECRET\n")
    (outside / "dir" / "deep.txt").write_bytes(b"SECRET TOO\n")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "ok.txt").write_bytes(b"ok\n")
    (src / "sub" / "inner.txt").write_bytes(b"inner\n")
    (src / "abs-file").symlink_to(outside / "secret.txt")
    (src / "abs-dir").symlink_to(outside / "dir")
    (src / "sub" / "rel-up").symlink_to("../../outside/secret.txt")
    (src / "rel-dir-up").symlink_to("../outside")
    (src / "etc").symlink_to("/etc/hostname")
    (src / "inside").symlink_to("sub/inner.txt")
    (src / "inside-dir").symlink_to("sub")
    (src / "dangling").symlink_to("nowhere")
    (src / "loop-a").symlink_to("loop-b")
    (src / "loop-b").symlink_to("loop-a")
    (src / "sub" / "up").symlink_to("..")  # a loop back to the source root
    return src


def _paths(run: Run, target: str) -> dict[str, str]:
    if run("ls", target, code=None).exit_code == 3:
        return {}  # no commits at all
    lines = run("ls", "-r", target, "--json").stdout.splitlines()
    docs = (
        [json.loads(line) for line in lines]
        if lines and not lines[0].startswith("[")
        else json.loads("".join(lines))
    )
    return {d["path"]: d["hash"] for d in docs if d["kind"] == "file"}


def _contents(run: Run, target: str) -> dict[str, bytes]:
    out = {}
    for path in _paths(run, target):
        out[path] = run("get", f"{target}:{path}").stdout_bytes
    return out


def test_put_skips_every_link_with_a_warning(store: Path, run: Run, hostile: Path) -> None:
    run("repo", "create", "r")
    result = run("put", "r@main", hostile)
    assert _contents(run, "r@main") == {"/ok.txt": b"ok\n", "/sub/inner.txt": b"inner\n"}
    for name in ("abs-file", "abs-dir", "sub/rel-up", "rel-dir-up", "etc", "inside", "dangling", "loop-a"):
        assert f"warning: skipped {hostile / name}: symbolic link" in result.stderr, name
    assert "Traceback" not in result.stderr


def test_follow_symlinks_follows_only_links_inside(store: Path, run: Run, hostile: Path) -> None:
    for name in ("dangling", "loop-a", "loop-b", "sub/up"):
        (hostile / name).unlink()
    run("repo", "create", "r")
    result = run("put", "r@main", hostile, "--follow-symlinks")
    assert _contents(run, "r@main") == {
        "/inside": b"inner\n",
        "/inside-dir/inner.txt": b"inner\n",
        "/ok.txt": b"ok\n",
        "/sub/inner.txt": b"inner\n",
    }
    for name in ("abs-file", "abs-dir", "sub/rel-up", "rel-dir-up", "etc"):
        assert f"warning: skipped {hostile / name}: symbolic link leading outside" in result.stderr, name


@pytest.mark.parametrize("bad", ["dangling", "loop-a", "sub/up"])
def test_follow_symlinks_refuses_a_dangling_link_or_a_loop(
    store: Path, run: Run, hostile: Path, bad: str
) -> None:
    for name in {"dangling", "loop-a", "loop-b", "sub/up"} - {bad, "loop-b"}:
        (hostile / name).unlink()
    run("repo", "create", "r")
    result = run("put", "r@main", hostile, "--follow-symlinks", code=2)
    *warnings, err = result.stderr.splitlines()  # warnings about links outside, then the error
    assert err.startswith("error: ") and "symbolic link" in err and "Traceback" not in result.stderr
    assert all(w.startswith("warning: skipped ") for w in warnings)
    assert _paths(run, "r@main") == {}


def test_a_link_as_the_put_source(store: Path, run: Run, hostile: Path, tmp_path: Path) -> None:
    run("repo", "create", "r")
    err = assert_error(run("put", "r@main:/s.txt", hostile / "abs-file", code=2), 2)
    assert "symbolic link" in err and "--follow-symlinks" in err
    (tmp_path / "src-link").symlink_to(hostile)
    assert "symbolic link" in assert_error(run("put", "r@main", tmp_path / "src-link", code=2), 2)
    assert _paths(run, "r@main") == {}
    # Named explicitly and followed on request: the link's target is the source (its own
    # links still may not lead out of it).
    result = run("put", "r@main:/s.txt", hostile / "inside", "--follow-symlinks")
    assert run("get", "r@main:/s.txt").stdout_bytes == b"inner\n", result.stderr


def test_commit_and_status_never_follow_links_in_a_checkout(
    store: Path, run: Run, data: Path, tmp_path: Path
) -> None:
    run("repo", "create", "r")
    run("put", "r@main", data)
    wc = tmp_path / "wc"
    run("checkout", "r@main", wc)
    (wc / "host").symlink_to("/etc/hostname")
    (wc / "sub" / "up").symlink_to("..")
    (wc / "loop1").symlink_to("loop2")
    (wc / "loop2").symlink_to("loop1")
    (wc / "new.txt").write_bytes(b"new\n")
    result = run("status", wc)
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines()[1:] == ["A /new.txt (4 B)"]
    assert "warning: skipped /host: symbolic link" in result.stderr
    assert "warning: skipped /loop1: symbolic link" in result.stderr
    run("commit", wc, "-m", "add")
    assert set(_paths(run, "r@main")) == {"/a.txt", "/new.txt", "/sub/b.txt"}
    assert "nothing to commit" in run("status", wc).stdout


def test_a_link_loop_as_the_put_source_is_one_error(store: Path, run: Run, tmp_path: Path) -> None:
    run("repo", "create", "r")
    (tmp_path / "l1").symlink_to("l2")
    (tmp_path / "l2").symlink_to("l1")
    assert "symbolic link" in assert_error(run("put", "r@main", tmp_path / "l1", code=2), 2)
    assert_error(run("put", "r@main", tmp_path / "l1", "--follow-symlinks", code=2), 2)
