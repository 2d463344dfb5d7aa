"""Job tokens against a real server on loopback: a worker reads its inputs and writes its
output through the API, and nothing else; expired, revoked and finished-job tokens are refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from datavc import accounts, errors
from datavc.cli import main
from datavc.client import Client
from datavc.db.models import Datum as DatumRow
from datavc.db.models import Job, JobToken
from datavc.pipelines import job_tokens
from datavc.pipelines.runner import _record_datums, job_datums, load_job
from datavc.pipelines.spec import PipelineSpec
from datavc.remote import RemoteClient
from datavc.remote_worker import run_remote_worker
from tests.datavc.pipelines.helpers import sh
from tests.datavc.server.conftest import Server, start_server

UPPER = 'for f in "$DATAVC_IN"/texts/*; do tr a-z A-Z < "$f" > "$DATAVC_OUT/$(basename "$f")"; done'


@dataclass
class Setup:
    srv: Server
    job: str
    input_commit: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """One server over one store: repos ``texts`` (input), ``secret`` (not an input) and the
    pipeline ``upper``, whose first job is claimed (running) with its datums recorded."""
    direct = Client.init(tmp_path_factory.mktemp("store"))
    srv = start_server(direct)
    try:
        direct.create_repo("texts")
        direct.put_file("texts", "main", "/a.txt", b"hello\n")
        direct.put_file("texts", "main", "/b.txt", b"world\n")
        commit = direct.inspect_commit("texts", "main").id
        direct.create_repo("secret")
        direct.put_file("secret", "main", "/key", b"do not read\n")
        direct.create_pipeline(
            name="upper",
            input={"pfs": {"repo": "texts", "glob": "/*"}},
            transform={"image": "example/upper:1", "cmd": sh(UPPER)},
        )
        job = direct.list_jobs("upper")[0].id
        ctx = direct.context
        spec, inputs, pipeline_id, _, _ = load_job(ctx, job)
        _record_datums(ctx, job, pipeline_id, job_datums(ctx, spec, inputs), False)
        with ctx.db.write() as s:  # as a scheduler's claim and the executor's shard assignment do
            s.execute(update(Job).where(Job.id == job).values(state="running", worker="test"))
            s.execute(update(DatumRow).where(DatumRow.job_id == job).values(shard=0))
        yield Setup(srv, job, commit)
    finally:
        srv.stop()
        direct.close()


def _mint(setup: Setup, life: timedelta = timedelta(minutes=5)) -> str:
    return job_tokens.mint(setup.srv.direct.context, setup.job, life).secret


def test_a_job_token_reads_its_inputs_at_their_commit_and_writes_its_output_only(setup: Setup) -> None:
    pod = setup.srv.client(_mint(setup))
    assert pod.get_file("texts", setup.input_commit, "/a.txt") == b"hello\n"
    pod.put_file("upper", "main", "/probe", b"x")  # writer on its output repo
    refusals = [
        lambda: pod.get_file("secret", "main", "/key"),  # not its repo
        lambda: pod.get_file("texts", "main", "/a.txt"),  # its input, but not at the job's commit
        lambda: pod.put_file("texts", "main", "/c.txt", b"x"),  # writing its input
        lambda: list(pod.log("texts", "main")),
        lambda: pod.list_repos(),  # no user route
        lambda: pod.create_repo("mine"),
        lambda: pod.list_pipelines(),
        lambda: pod.call("GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef/work"),  # another job
    ]
    for refused in refusals:
        with pytest.raises(errors.Forbidden, match="needs"):
            refused()
    # A user's token, even an admin's, cannot call a job's worker routes.
    admin = setup.srv.client(setup.srv.admin_token)
    with pytest.raises(errors.Forbidden, match="needs the token of job"):
        admin.call("GET", f"/api/v1/jobs/{setup.job}/work")
    # Only the hash is stored; the identity holds reader on the input, writer on the output.
    with setup.srv.direct.context.db.read() as s:
        hashes = set(s.scalars(select(JobToken.token_hash)))
    assert accounts.hash_token(pod._http.headers["authorization"].split()[1]) in hashes
    roles = {
        r.repo: r.role for r in accounts.list_roles(setup.srv.direct.context) if r.user == "pipeline:upper"
    }
    assert roles == {"texts": "reader", "upper": "writer"}


def test_the_worker_runs_its_datums_through_the_server(setup: Setup, tmp_path: Path) -> None:
    with RemoteClient(setup.srv.url, _mint(setup)) as pod:
        assert run_remote_worker(pod, setup.job, 0, pfs_root=tmp_path / "pfs") == 0
    ctx = setup.srv.direct.context
    with ctx.db.read() as s:
        rows = s.execute(
            select(DatumRow.state, DatumRow.output_tree).where(DatumRow.job_id == setup.job)
        ).all()
    assert [state for state, _ in rows] == ["success", "success"]
    outputs = {p: ctx.store.read_bytes(e) for _, tree in rows for p, e in ctx.store.walk(tree)}
    assert outputs == {"a.txt": b"HELLO\n", "b.txt": b"WORLD\n"}
    # Done datums cannot be reported again (nor given other outputs).
    with RemoteClient(setup.srv.url, _mint(setup)) as pod, pytest.raises(errors.Conflict):
        pod.call("POST", f"/api/v1/jobs/{setup.job}/work/done", json={"datum": _hash(setup), "ok": False})


def _hash(setup: Setup) -> str:
    with setup.srv.direct.context.db.read() as s:
        return s.scalars(select(DatumRow.datum_hash).where(DatumRow.job_id == setup.job)).first() or ""


def test_expired_revoked_and_ended_job_tokens_are_refused(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = setup.srv.direct.context
    expired = _mint(setup)
    with ctx.db.write() as s:
        s.execute(
            update(JobToken)
            .where(JobToken.token_hash == accounts.hash_token(expired))
            .values(expires_at=JobToken.created_at)
        )
    with pytest.raises(errors.Unauthenticated, match="expired"):
        setup.srv.client(expired).get_file("texts", setup.input_commit, "/a.txt")

    live = _mint(setup)
    runner = CliRunner()
    monkeypatch.setenv("DATAVC_SERVER", setup.srv.url)
    monkeypatch.setenv("DATAVC_TOKEN", live)
    got = runner.invoke(main, ["get", f"texts@{setup.input_commit}:/a.txt"])
    assert (got.exit_code, got.stdout) == (0, "hello\n")
    got = runner.invoke(main, ["get", "secret@main:/key"])
    assert got.exit_code == 10 and got.stderr.startswith("error: ") and live not in got.stderr
    got = runner.invoke(main, ["put", "texts@main:/c.txt", "-"], input="x")
    assert got.exit_code == 10
    assert job_tokens.revoke_job(ctx, setup.job) >= 1
    got = runner.invoke(main, ["get", f"texts@{setup.input_commit}:/a.txt"])
    assert got.exit_code == 9 and "was revoked" in got.stderr and live not in got.stderr

    ended = _mint(setup)
    with ctx.db.write() as s:
        s.execute(update(Job).where(Job.id == setup.job).values(state="failure"))
    try:
        with pytest.raises(errors.Unauthenticated, match="its job has ended"):
            setup.srv.client(ended).get_file("texts", setup.input_commit, "/a.txt")
    finally:
        with ctx.db.write() as s:
            s.execute(update(Job).where(Job.id == setup.job).values(state="running"))


def test_a_token_lives_until_the_jobs_deadline_within_the_bound() -> None:
    from datavc.server.auth import JOB_TOKEN_PREFIX

    assert JOB_TOKEN_PREFIX == job_tokens.PREFIX  # the server tells job tokens apart by it
    spec = PipelineSpec.parse(
        {
            "pipeline": {"name": "p"},
            "input": {"pfs": {"repo": "r", "glob": "/*"}},
            "transform": {"cmd": ["true"]},
            "datum_timeout": "10s",
            "datum_tries": 2,
            "parallelism": 2,
        }
    )
    margin = job_tokens.MARGIN
    assert job_tokens.lifetime(spec, 4).total_seconds() == 10 * 2 * 2 + margin
    assert job_tokens.lifetime(spec, 4, max_seconds=60).total_seconds() == 60
    timed = spec.model_copy(update={"job_timeout": 15.0})
    assert job_tokens.lifetime(timed, 100).total_seconds() == 15 + margin
    with pytest.raises(errors.InvalidArgument):
        job_tokens.lifetime(spec, 1, max_seconds=0)
