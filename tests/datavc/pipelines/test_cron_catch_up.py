"""Cron ticks missed while no scheduler ran: one catch-up tick on restart, not zero, not a storm."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.pipelines import cron
from tests.datavc.helpers import open_deployment
from tests.datavc.pipelines.helpers import sh


@pytest.fixture
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    c = open_deployment("sqlite+local", tmp_path / "store", request)
    yield c
    c.close()


def test_a_restart_after_missed_ticks_commits_one_catch_up_tick(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    clock = [start + timedelta(seconds=30)]
    monkeypatch.setattr(cron, "now", lambda: clock[0])
    client.create_pipeline(
        {
            "pipeline": {"name": "clock"},
            "input": {"cron": {"name": "tick", "spec": "@every 1m", "start": start.isoformat()}},
            "transform": {"cmd": sh("true")},
        }
    )
    assert cron.tick(client.context) == []  # the first tick (00:01) is not due yet
    clock[0] = start + timedelta(minutes=1, seconds=5)
    assert len(cron.tick(client.context)) == 1
    clock[0] = start + timedelta(hours=2, seconds=10)  # the daemon was down for ~2 h: 119 ticks missed
    assert len(cron.tick(client.context)) == 1  # one catch-up tick, for the latest due time
    assert cron.tick(client.context) == []  # and nothing more until the next one is due
    names = sorted(f.path for f in client.list_files("clock_tick", "main", "/"))
    assert names == ["/2026-12-01T00:01:00Z", "/2026-12-01T02:00:00Z"]
    clock[0] = start + timedelta(hours=2, minutes=1)
    assert len(cron.tick(client.context)) == 1  # then the schedule goes on as before
