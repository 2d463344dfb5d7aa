"""Job control and datum previews in the one contract: direct and remote, SQLite and PostgreSQL.

``stop_job``/``kill_job``, ``restart_job``, ``restart_datum``, ``follow_job_logs`` and
``preview_datums`` (``datavc.pipelines.job_control``, ``datavc.pipelines.preview``).
"""

from __future__ import annotations

import pytest

from datavc import errors
from datavc.client import Client
from tests.datavc.server.test_contract import COUNT, api, scheduler  # noqa: F401 (the api fixture)


def test_job_control_and_preview(api: Client) -> None:  # noqa: F811
    api.create_repo("texts")
    with api.commit("texts", "main") as tx:
        tx.put_file("/a.txt", b"12345")
        tx.put_file("/b.txt", b"123")
    spec = {
        "pipeline": {"name": "count"},
        "input": {"pfs": {"repo": "texts", "glob": "/*"}},
        "transform": {"cmd": ["sh", "-c", COUNT]},
    }
    preview = api.preview_datums(spec)
    assert sorted((d.inputs[0][1], d.state) for d in preview) == [("/a.txt", "new"), ("/b.txt", "new")]
    api.create_pipeline(spec)

    # stop the queued job; stopping it again changes nothing; it cannot be restarted while queued
    queued = api.list_jobs("count")[0]
    assert queued.state == "created"
    with pytest.raises(errors.Conflict, match="stop it first"):
        api.restart_job(queued.id)
    stopped = api.stop_job(queued.id)
    assert stopped.state == "killed" and stopped.message.startswith("stopped by ")
    assert api.kill_job(queued.id[:8]).state == "killed"
    restarted = api.restart_job(queued.id)
    assert (restarted.state, restarted.inputs) == ("created", queued.inputs)
    assert not scheduler(api).run().failed
    assert api.inspect_job(queued.id).state == "killed"  # the stopped job never ran
    first = api.inspect_job(restarted.id)
    assert (first.state, first.datums_processed) == ("success", 2)
    assert {d.state for d in api.preview_datums(spec)} == {"known"}  # a job would skip both
    assert {d for d, _ in api.follow_job_logs(first.id)} == {d.id for d in api.list_datums(first.id)}
    with pytest.raises(errors.Conflict, match="already ended"):
        api.stop_job(first.id)

    # restart one datum: a new job over the same commits runs it again, skips the other
    a = next(d.id for d in api.list_datums(first.id) if d.inputs[0][1] == "/a.txt")
    again = api.restart_datum(first.id[:8], a[:10])
    assert (again.state, again.inputs) == ("created", first.inputs)
    assert not scheduler(api).run().failed
    done = api.inspect_job(again.id)
    assert (done.state, done.datums_processed, done.datums_skipped) == ("success", 1, 1)

    with pytest.raises(errors.NotFound):
        api.stop_job("f" * 32)
    with pytest.raises(errors.NotFound):
        api.restart_datum(first.id, "f" * 12)
