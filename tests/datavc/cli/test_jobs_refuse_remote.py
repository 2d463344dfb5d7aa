"""``datavc run``/``daemon`` with ``DATAVC_SERVER`` refuse before contacting the server
(``datavc/cli/jobs.py``): an unreachable server still gives exit 2 and the one line that
says where jobs run, not exit 7."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from datavc.cli import main
from tests.datavc.server.conftest import free_port


@pytest.mark.parametrize("cmd", [["run"], ["run", "--json"], ["daemon", "--poll", "0.1"]])
def test_run_and_daemon_refuse_without_contacting_the_server(
    cmd: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAVC_SERVER", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("DATAVC_TOKEN", "dvt_not-checked")
    result = CliRunner().invoke(main, cmd, catch_exceptions=False)
    assert result.exit_code == 2, (cmd, result.stdout, result.stderr)
    assert result.stdout == ""
    err = result.stderr
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "cannot reach" not in err
    assert "run beside the server" in err and "datavc serve" in err and "datavc daemon" in err
