"""``datavc serve`` as a process: ports bound up front, a clear error for a port in use,
``--s3-port 0``, and a clean exit 0 on SIGTERM with both servers stopped."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from datavc.cli import main
from datavc.client import Client
from tests.datavc.server.test_serve import START_TIMEOUT, ServeProcess

CLI = [sys.executable, "-c", "from datavc.cli import main; main()"]


def s3_port_of(p: ServeProcess) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while not (m := re.search(r"S3 gateway on http://127\.0\.0\.1:(\d+)", p.output())):
        assert p.proc.poll() is None and time.monotonic() < deadline, p.output()
        time.sleep(0.05)
    return int(m.group(1))


def bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_second_serve_on_a_taken_s3_port_fails_clearly_and_sigterm_exits_0(tmp_path: Path) -> None:
    home = tmp_path / "store"
    Client.init(home).close()
    first = ServeProcess(home, "--s3-port", "0", "--log-level", "warning")
    try:
        first.wait_serving(f"http://127.0.0.1:{first.port}")
        s3_port = s3_port_of(first)
        assert s3_port != 0
        # The gateway answers on the port it printed (an unsigned request: AccessDenied).
        r = httpx.get(f"http://127.0.0.1:{s3_port}/", timeout=5)
        assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
        second = subprocess.run(
            [*CLI, "--home", str(home), "serve", "--port", "0", "--s3-port", str(s3_port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 7, second.stderr
        lines = second.stderr.strip().splitlines()
        assert lines == [
            f"error: cannot listen on 127.0.0.1:{s3_port} for the S3 gateway: Address already in use"
        ]
        # The first is untouched by the attempt.
        assert httpx.get(f"http://127.0.0.1:{first.port}/healthz", timeout=5).status_code == 200
    finally:
        code = first.stop()
    assert code == 0, first.output()
    assert "Traceback" not in first.output()
    assert bindable(first.port) and bindable(s3_port)  # both servers stopped, sockets closed


def test_a_taken_api_port_fails_before_anything_is_served(tmp_path: Path) -> None:
    home = tmp_path / "store"
    Client.init(home).close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = CliRunner().invoke(main, ["--home", str(home), "serve", "--port", str(port), "--s3-port", "0"])
    assert r.exit_code == 7
    assert (
        r.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port} for the API")
    )


def test_a_bad_upload_max_age_is_an_invalid_argument(tmp_path: Path) -> None:
    home = tmp_path / "store"
    Client.init(home).close()
    r = CliRunner().invoke(main, ["--home", str(home), "serve", "--s3-upload-max-age", "soon"])
    assert r.exit_code == 2
    assert r.stderr.strip().startswith("error: invalid --s3-upload-max-age 'soon'")


def test_sigint_still_means_130(tmp_path: Path) -> None:
    home = tmp_path / "store"
    Client.init(home).close()
    p = ServeProcess(home, "--log-level", "warning")
    try:
        p.wait_serving(f"http://127.0.0.1:{p.port}")
        p.proc.send_signal(signal.SIGINT)
        assert p.proc.wait(timeout=15) == 130, p.output()
    finally:
        p.stop()
