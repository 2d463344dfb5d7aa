"""``datavc serve`` as a process: ports bound up front, a clear error for a port in use,
``--s3-port 0``, and a clean exit 0 on SIGTERM with both servers stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from datavc.cli import main
from datavc.client import Client
from tests.datavc.server.test_serve import START_TIMEOUT, ServeProcess


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
        second = CliRunner().invoke(
            main, ["--home", str(home), "serve", "--port", "0", "--s3-port", str(s3_port)]
        )
        assert second.exit_code == 7, second.output
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


def test_sigint_stops_both_servers_then_raises_keyboard_interrupt(tmp_path: Path) -> None:
    """In-process (no interpreter start-up): Ctrl-C still means 130 once both servers stopped."""
    from datavc.server import serve as _serve

    with Client.init(tmp_path / "store") as client:
        listeners = _serve.listen("127.0.0.1", 0, 0)
        api, s3 = listeners.api_port, listeners.s3_port
        assert s3 is not None

        def interrupt() -> None:
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"http://127.0.0.1:{api}/healthz", timeout=1)
                    httpx.get(f"http://127.0.0.1:{s3}/", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            _serve.run(client, "127.0.0.1", 0, log_level="warning", listeners=listeners)
    assert bindable(api) and bindable(s3)
    ours = {"datavc-API", "datavc-S3 gateway", "datavc-s3-sweep"}  # the threads run() starts
    assert not [t.name for t in threading.enumerate() if t.name in ours]
