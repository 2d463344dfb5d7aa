"""``datavc ui``: the console over the embedded store on 127.0.0.1, logged in by a one-time link."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from datavc import accounts
from datavc.client import Client
from datavc.errors import Unauthenticated
from tests.datavc.server.conftest import free_port
from tests.datavc.server.console.conftest import login


def test_ui_serves_the_console_on_loopback_with_a_private_link_revoked_at_exit(tmp_path: Path) -> None:
    home = tmp_path / "store"
    with Client.init(home) as c:
        c.create_repo("images")
    port = free_port()
    out = tmp_path / "ui.log"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from datavc.cli import main; main()",
                "--home",
                str(home),
                "ui",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            link_file = home / ".datavc" / "ui-link"
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, out.read_text()
                try:
                    if (
                        link_file.exists()
                        and httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
                    ):
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.1)
            assert stat.S_IMODE(link_file.stat().st_mode) == 0o600
            link = link_file.read_text().strip()
            assert link.startswith(f"http://127.0.0.1:{port}/ui/login#token=")
            token = link.split("#token=", 1)[1]
            assert token not in out.read_text()  # not a terminal: the link is in the file only
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/ui") as http:
                assert login(http, token).status_code == 303
                assert "images" in http.get("/").text
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
    with Client.open(home) as c, pytest.raises(Unauthenticated):
        accounts.authenticate(c.context, token)
