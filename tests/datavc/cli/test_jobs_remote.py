"""``datavc run`` and ``datavc daemon`` with ``DATAVC_SERVER`` set (``datavc/cli/jobs.py``).

Jobs run beside the server, not through its API: both commands say so in one
``error:`` line and exit 2, before printing anything else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from datavc.cli import main
from datavc.client import Client
from tests.datavc.server.conftest import start_server


def test_run_and_daemon_refuse_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    direct = Client.init(tmp_path / "store")
    srv = start_server(direct)
    try:
        monkeypatch.setenv("DATAVC_SERVER", srv.url)
        monkeypatch.setenv("DATAVC_TOKEN", srv.admin_token)
        for cmd in (["run"], ["daemon", "--poll", "0.1"]):
            result = CliRunner().invoke(main, cmd, catch_exceptions=False)
            assert result.exit_code == 2, (cmd, result.stdout, result.stderr)
            assert result.stdout == ""
            err = result.stderr
            assert err.startswith("error: ") and err.count("\n") == 1, err
            assert "run beside the server" in err and "datavc daemon" in err
    finally:
        srv.stop()
        direct.close()
