"""Pipelines and the repos they use: no takeover of a user's repo; deleting a used repo is
refused, or (forced) stops the pipeline visibly; recreating the repo and starting the
pipeline makes it trigger again. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.errors import AlreadyExists, Conflict, NotFound
from tests.datavc.helpers import files_of as files
from tests.datavc.pipelines.helpers import jobs, run_ok, sh

COPY = sh('cp -r "$DATAVC_IN/src/." "$DATAVC_OUT/"')


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    if request.param == "sqlite":
        c = Client.init(tmp_path / "store")
    else:
        c = Client.init(tmp_path / "store", db=request.getfixturevalue("pg_url"))
    yield c
    c.close()


def _pipeline(client: Client, name: str = "out", repo: str = "src") -> None:
    client.create_pipeline(name=name, input={"pfs": {"repo": repo, "glob": "/"}}, transform={"cmd": COPY})


def test_a_pipeline_cannot_take_over_a_user_repo(client: Client) -> None:
    client.create_repo("src")
    client.create_repo("mine", "my own data")
    client.put_file("mine", "main", "/keep.txt", b"precious")
    with pytest.raises(AlreadyExists, match="'mine' already exists and is not a pipeline's output"):
        _pipeline(client, "mine")
    assert client.list_pipelines() == []
    assert files(client, "mine") == {"/keep.txt": b"precious"}
    # An empty user repo is not taken over either.
    client.create_repo("empty")
    with pytest.raises(AlreadyExists):
        _pipeline(client, "empty")


def test_recreating_a_deleted_pipeline_reuses_its_own_output_repo(client: Client) -> None:
    client.create_repo("src")
    client.put_file("src", "main", "/a", b"a")
    _pipeline(client)
    run_ok(client)
    client.delete_pipeline("out")
    _pipeline(client)  # its own output repo, not a user's
    run_ok(client)
    assert files(client, "out") == {"/a": b"a"}


@pytest.mark.parametrize("which", ["src", "out"])
def test_deleting_a_repo_a_pipeline_uses_is_refused_naming_the_pipeline(client: Client, which: str) -> None:
    client.create_repo("src")
    _pipeline(client)  # src has no commit: even an empty repo in use is refused
    how = "reads" if which == "src" else "writes"
    with pytest.raises(Conflict, match=f"pipeline 'out' {how} it"):
        client.delete_repo(which)
    with pytest.raises(Conflict, match=f"pipeline 'out' {how} it"):
        client.delete_repo(which, force=False)
    assert {r.name for r in client.list_repos()} == {"src", "out"}
    assert client.inspect_pipeline("out").state == "running"


def test_force_deleting_an_input_stops_the_pipeline_until_the_repo_is_back(client: Client) -> None:
    client.create_repo("src")
    client.put_file("src", "main", "/a", b"a")
    _pipeline(client)
    run_ok(client)
    client.put_file("src", "main", "/b", b"b")  # a job waiting when the repo goes

    client.delete_repo("src", force=True)
    p = client.inspect_pipeline("out")
    assert p.state == "stopped"
    assert "input repo 'src' was deleted" in p.reason
    assert [j.state for j in jobs(client, "out")] == ["success", "killed"]
    assert client.run().succeeded == []
    # Starting while the repo is missing says so.
    with pytest.raises(NotFound, match="input repo 'src' does not exist"):
        client.start_pipeline("out")

    client.create_repo("src")
    client.put_file("src", "main", "/c", b"c")  # nothing triggers while the pipeline is stopped
    assert len(jobs(client, "out")) == 2
    p = client.start_pipeline("out")
    assert (p.state, p.reason) == ("running", "")
    run_ok(client)
    assert files(client, "out") == {"/c": b"c"}
    # And it triggers on new commits again.
    client.put_file("src", "main", "/d", b"d")
    run_ok(client)
    assert files(client, "out") == {"/c": b"c", "/d": b"d"}


def test_force_deleting_the_output_repo_stops_the_pipeline_and_start_recreates_it(client: Client) -> None:
    client.create_repo("src")
    client.put_file("src", "main", "/a", b"a")
    _pipeline(client)
    run_ok(client)
    client.delete_repo("out", force=True)
    p = client.inspect_pipeline("out")
    assert p.state == "stopped" and "output repo 'out' was deleted" in p.reason
    client.start_pipeline("out")
    assert "out" in {r.name for r in client.list_repos()}
    run_ok(client)
    assert files(client, "out") == {"/a": b"a"}


def test_a_user_repo_in_place_of_a_deleted_output_is_not_taken_over_at_start(client: Client) -> None:
    client.create_repo("src")
    _pipeline(client)
    client.delete_repo("out", force=True)
    client.create_repo("out", "someone else's")
    with pytest.raises(AlreadyExists, match="not a pipeline's output"):
        client.start_pipeline("out")
    assert client.inspect_pipeline("out").state == "stopped"
