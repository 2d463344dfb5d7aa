"""The serving shim's per-datum path: ``posix_spawn`` plus an exact (pidfd) wait, same guarantees."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.pipelines import reaper
from datavc.pipelines.shim import Shim, ShimRequest

pytestmark = pytest.mark.skipif(not reaper.SUPPORTED, reason="the subreaper shim is Linux-only")


@pytest.fixture(scope="module")
def shim() -> Iterator[Shim]:
    s = Shim()
    yield s
    s.close()


def _script(tmp_path: Path, name: str, body: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_the_command_is_found_in_the_requests_path_and_runs_in_its_cwd(shim: Shim, tmp_path: Path) -> None:
    # posix_spawnp would search the shim's own PATH: the request's PATH must win, as with Popen.
    _script(tmp_path, "only-here", 'pwd; echo "$DATAVC_X"; echo oops >&2; exit 3\n')
    work = tmp_path / "work"
    work.mkdir()
    log = tmp_path / "log"
    log.write_bytes(b"before\n")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "DATAVC_X": "x1"}
    got = shim.run(ShimRequest(["only-here"], work, env, log, 30, ""))
    assert (got.code, got.timed_out, got.error) == (3, False, "")
    assert log.read_text() == f"before\n{work}\nx1\noops\n"  # appended, stdout and stderr


def test_a_missing_command_or_directory_is_127_with_the_reason(shim: Shim, tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = {"PATH": "/usr/bin:/bin"}
    got = shim.run(ShimRequest(["no-such-program-xyz"], tmp_path, env, log, 30, ""))
    assert (got.code, got.error) == (127, "No such file or directory")
    got = shim.run(ShimRequest(["true"], tmp_path / "missing", env, log, 30, ""))
    assert (got.code, got.error) == (127, "No such file or directory")
    assert shim.run(ShimRequest(["true"], tmp_path, env, log, 30, "")).code == 0  # the shim still serves


def test_a_signal_death_and_a_timeout_are_reported_and_nothing_is_left(shim: Shim, tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = {"PATH": "/usr/bin:/bin"}
    assert shim.run(ShimRequest(["sh", "-c", "kill -TERM $$"], tmp_path, env, log, 30, "")).code == -15
    pid_file = tmp_path / "bg"
    t0 = time.monotonic()
    got = shim.run(
        ShimRequest(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; sleep 60"], tmp_path, env, log, 0.5, "")
    )
    assert (got.code, got.timed_out) == (-9, True)
    assert time.monotonic() - t0 < 10
    assert reaper.start_time(int(pid_file.read_text())) is None  # the background job is gone too
    assert reaper.descendants(shim.pid) == []


def test_stdin_is_still_fed_to_the_command(shim: Shim, tmp_path: Path) -> None:
    log = tmp_path / "log"
    got = shim.run(ShimRequest(["cat"], tmp_path, {"PATH": "/usr/bin:/bin"}, log, 30, "line 1\nline 2\n"))
    assert got.code == 0
    assert log.read_text() == "line 1\nline 2\n"


def test_stdin_larger_than_a_pipe_and_stdin_never_read_both_end(shim: Shim, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    big = "x" * 300_000 + "\n"  # several pipe buffers: fed by a thread while the command reads
    log = tmp_path / "log"
    assert shim.run(ShimRequest(["wc", "-c"], tmp_path, env, log, 30, big)).code == 0
    assert log.read_text().split() == ["300001"]
    # A command that exits without reading: the feeding thread gets EPIPE, the shim serves on.
    assert shim.run(ShimRequest(["true"], tmp_path, env, tmp_path / "log2", 30, big)).code == 0
    assert shim.run(ShimRequest(["true"], tmp_path, env, tmp_path / "log3", 30)).code == 0


def test_sigpipe_is_back_to_its_default_in_the_command(shim: Shim, tmp_path: Path) -> None:
    # Python ignores SIGPIPE; a transform must not inherit that (`yes | head` would complain).
    log = tmp_path / "log"
    got = shim.run(ShimRequest(["sh", "-c", "yes | head -n 1"], tmp_path, {"PATH": "/usr/bin:/bin"}, log, 30))
    assert got.code == 0
    assert log.read_text() == "y\n"


def test_queued_requests_run_in_order_and_one_past_its_deadline_does_not_start(
    shim: Shim, tmp_path: Path
) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    marks = tmp_path / "marks"
    soon = time.monotonic() + 1.0
    first = ShimRequest(
        ["sh", "-c", f"echo 1 >> {marks}; sleep 2"], tmp_path, env, tmp_path / "l1", 30, "", soon
    )
    second = ShimRequest(["sh", "-c", f"echo 2 >> {marks}"], tmp_path, env, tmp_path / "l2", 30, "", soon)
    third = ShimRequest(["sh", "-c", f"echo 3 >> {marks}"], tmp_path, env, tmp_path / "l3", 30)
    for req in (first, second, third):
        shim.start(req)  # all three wait in the shim's pipe; it runs them one after another
    got = [shim.result() for _ in range(3)]
    assert [(g.code, g.timed_out) for g in got] == [(-9, True), (-9, True), (0, False)]
    assert marks.read_text() == "1\n3\n"  # the second's deadline passed while it waited


def test_wait_pid_wakes_when_the_child_ends_and_times_out_otherwise() -> None:
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    t0 = time.monotonic()
    assert reaper._wait_pid(quick.pid, 30)
    assert time.monotonic() - t0 < 10
    assert quick.wait() == 0  # not reaped by _wait_pid: the caller reaps it
    slow = subprocess.Popen(["sleep", "30"])
    try:
        t0 = time.monotonic()
        assert not reaper._wait_pid(slow.pid, 0.2)
        assert 0.15 < time.monotonic() - t0 < 10
    finally:
        slow.kill()
        slow.wait()
