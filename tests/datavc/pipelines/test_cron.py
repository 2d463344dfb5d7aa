"""Cron inputs and branch triggers, end to end on SQLite (their logic does not depend on the database)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.errors import InvalidArgument
from datavc.pipelines import cron
from tests.datavc.helpers import files_of, open_deployment
from tests.datavc.pipelines.helpers import jobs, run_ok, sh

COPY = 'cp -r "$DATAVC_IN"/*/. "$DATAVC_OUT"/'


@pytest.fixture
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    c = open_deployment("sqlite+local", tmp_path / "store", request)
    yield c
    c.close()


def put(client: Client, path: str, data: bytes) -> str:
    with client.commit("data", "main") as tx:
        tx.put_file(path, data)
    return tx.id


def test_cron_input_ticks_into_its_repo_and_overwrite_keeps_one_tick(client: Client) -> None:
    start = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    client.create_pipeline(
        {  # as published for Pachyderm (camelCase is fine too)
            "pipeline": {"name": "clock"},
            "input": {"cron": {"name": "tick", "spec": "@every 1s", "overwrite": True, "start": start}},
            "transform": {"cmd": sh('ls "$DATAVC_IN/tick" > "$DATAVC_OUT/seen"')},
        }
    )
    assert client.inspect_repo("clock_tick").name == "clock_tick"
    made = cron.tick(client.context)
    assert len(made) == 1  # missed ticks are not replayed: one commit for the latest
    first = [f.path for f in client.list_files("clock_tick", "main", "/")]
    assert len(first) == 1 and first[0].endswith("Z")
    assert cron.tick(client.context) == []  # not due again yet
    time.sleep(1.1)
    run_ok(client)  # 'run' ticks too, then runs the jobs of both ticks
    ticks = [f.path for f in client.list_files("clock_tick", "main", "/")]
    assert len(ticks) == 1 and ticks != first  # overwrite: the newest tick only
    assert client.get_file("clock", "main", "/seen").decode().split() == [ticks[0].lstrip("/")]
    assert all(j.state == "success" for j in jobs(client, "clock"))
    tick_commit = client.inspect_commit("clock_tick", "main")
    assert tick_commit.commit_set == tick_commit.id  # a tick starts a commit set


def test_branch_trigger_by_commits_and_size(client: Client) -> None:
    client.create_repo("data")
    client.create_pipeline(
        {
            "pipeline": {"name": "every2"},
            "input": {"pfs": {"repo": "data", "glob": "/", "trigger": {"commits": 2}}},
            "transform": {"cmd": sh(COPY)},
        }
    )
    client.create_pipeline(
        {
            "pipeline": {"name": "big"},
            "input": {"pfs": {"repo": "data", "glob": "/", "trigger": {"branch": "main", "size": "10"}}},
            "transform": {"cmd": sh(COPY)},
        }
    )
    assert client.inspect_pipeline("every2").inputs == ("data@every2-trigger-1",)
    put(client, "/a", b"123")
    run_ok(client)
    assert jobs(client, "every2") == [] and jobs(client, "big") == []
    second = put(client, "/b", b"123456789012")  # the 2nd commit, and 15 bytes in all
    run_ok(client)
    assert client.inspect_branch("data", "every2-trigger-1").head == second
    assert client.inspect_branch("data", "big-trigger-1").head == second
    (job,) = jobs(client, "every2")
    assert job.commit_set == second and job.state == "success"
    assert set(files_of(client, "every2", "main")) == {"/a", "/b"}
    put(client, "/c", b"1")
    run_ok(client)
    assert len(jobs(client, "every2")) == 1 and len(jobs(client, "big")) == 1  # neither condition holds


def test_branch_trigger_on_a_schedule_fires_without_a_commit(client: Client) -> None:
    client.create_repo("data")
    client.create_pipeline(
        {
            "pipeline": {"name": "nightly"},
            "input": {"pfs": {"repo": "data", "glob": "/", "trigger": {"cronSpec": "@every 1s"}}},
            "transform": {"cmd": sh(COPY)},
        }
    )
    head = put(client, "/a", b"x")
    run_ok(client)
    assert jobs(client, "nightly") == []  # no tick since the pipeline was created
    time.sleep(1.1)
    run_ok(client)  # the tick came due: the input branch follows main
    assert client.inspect_branch("data", "nightly-trigger-1").head == head
    assert [j.state for j in jobs(client, "nightly")] == ["success"]


@pytest.mark.parametrize(
    ("inp", "msg"),
    [
        ({"cron": {"name": "t", "spec": "every minute"}}, "invalid schedule"),
        ({"pfs": {"repo": "data", "glob": "/", "trigger": {"size": "lots"}}}, "invalid size"),
        ({"pfs": {"repo": "data", "glob": "/", "trigger": {"rate_limit_spec": "x"}}}, "rate_limit_spec"),
    ],
)
def test_bad_cron_and_trigger_fields_are_refused(client: Client, inp: dict[str, object], msg: str) -> None:
    client.create_repo("data")
    with pytest.raises(InvalidArgument, match=msg):
        client.create_pipeline({"pipeline": {"name": "bad"}, "input": inp, "transform": {"cmd": ["true"]}})
