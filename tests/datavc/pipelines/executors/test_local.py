"""The local executor's isolation: the transform's environment is an allow-list, its scratch
directory is outside the store (so ``..`` from ``$DATAVC_OUT`` reaches neither the store's
config nor its metadata), and nothing it started outlives its datum, double-forked daemons
included. SQLite store, scheduler in the test process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.pipelines.executors.local import transform_env
from tests.datavc.helpers import files_of as files
from tests.datavc.pipelines.helpers import last_job, run_ok, sh

SECRETS = {
    "DATABASE_URL": "postgresql://u:pw@db/x",
    "AZURE_STORAGE_KEY": "azkey",
    "GITHUB_PAT": "ghp_x",
    "MY_API_KEY": "k",
    "S3_ACCESS_KEY": "s3",
    "HF_AUTH": "hf",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "AWS_PROFILE": "prod",
    "PGPASSWORD": "pg",
    "PGHOST": "db",
    "DATAVC_DB": "postgresql://u:pw@db/x",
    "DATAVC_HOME": "/somewhere",
    "KUBECONFIG": "/k",
    "SOMETHING_ELSE": "x",
}
PASSED = {"PATH", "HOME", "LANG", "TZ", "TMPDIR"}
DATUM_VARS = {"DATAVC_IN", "DATAVC_OUT", "DATAVC_JOB_ID", "DATAVC_DATUM_ID"}
PACH_VARS = {"PACH_JOB_ID", "PACH_DATUM_ID", "PACH_OUTPUT_COMMIT_ID"}  # what Pachyderm code reads (issue 10)


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh system temporary directory ($TMPDIR) for this test, outside the store."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    return root


@pytest.fixture
def client(tmp_path: Path, tmp_root: Path) -> Iterator[Client]:
    c = Client.init(tmp_path / "store")
    c.create_repo("A")
    c.put_file("A", "main", "/f", b"f")
    yield c
    c.close()


def test_transform_env_is_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**SECRETS, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"}.items():
        monkeypatch.setenv(k, v)
    env = transform_env({"GREETING": "hi"}, {"DATAVC_OUT": "/o"})
    assert env["GREETING"] == "hi" and env["DATAVC_OUT"] == "/o"
    assert env["LC_ALL"] == env["LANG"] == "C.UTF-8" and env["TZ"] == "UTC"
    assert not set(SECRETS) & set(env)
    assert all(k in PASSED or k.startswith("LC_") or k in {"GREETING", "DATAVC_OUT"} for k in env)


def test_the_transform_sees_only_allowed_variables(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**SECRETS, "LC_ALL": "C.UTF-8", "TZ": "UTC"}.items():
        monkeypatch.setenv(k, v)
    dump = "import json, os; json.dump(dict(os.environ), open(os.environ['DATAVC_OUT'] + '/env.json', 'w'))"
    client.create_pipeline(
        name="p",
        input={"pfs": {"repo": "A", "glob": "/"}},
        transform={"cmd": [sys.executable, "-c", dump], "env": {"GREETING": "hello"}},
    )
    run_ok(client)
    env = json.loads(files(client, "p")["/env.json"])
    assert not set(SECRETS) & set(env), env
    assert not any(v in {"pw", "azkey", "ghp_x", "aws", "pg"} for v in env.values())
    allowed = PASSED | DATUM_VARS | PACH_VARS | {"GREETING"}
    assert all(k in allowed or k.startswith("LC_") for k in env), sorted(env)
    assert env["GREETING"] == "hello" and env["TZ"] == "UTC" and env["LC_ALL"] == "C.UTF-8"
    assert set(env) >= DATUM_VARS | PACH_VARS


# Walk up from $DATAVC_OUT: which ancestors hold a store's config or metadata? And the mode
# of the job's temporary root ($DATAVC_OUT/../..).
PROBE = """
import json, os
out = os.environ['DATAVC_OUT']
found, d = [], out
for _ in range(12):
    d = os.path.dirname(d)
    for name in ('config.json', 'metadata.db', '.datavc'):
        if os.path.exists(os.path.join(d, name)):
            found.append(os.path.join(d, name))
root = os.path.dirname(os.path.dirname(out))
json.dump({'found': found, 'out': out, 'root_mode': os.stat(root).st_mode & 0o777},
          open(os.path.join(out, 'probe.json'), 'w'))
"""


def test_scratch_is_outside_the_store_private_and_removed(
    client: Client, tmp_path: Path, tmp_root: Path
) -> None:
    client.create_pipeline(
        name="p", input={"pfs": {"repo": "A", "glob": "/"}}, transform={"cmd": [sys.executable, "-c", PROBE]}
    )
    run_ok(client)
    probe = json.loads(files(client, "p")["/probe.json"])
    assert probe["found"] == []
    out = Path(probe["out"])
    assert out.is_relative_to(tmp_root) and not out.is_relative_to(tmp_path / "store")
    assert out.parent.parent.name.startswith("datavc-run-")
    assert probe["root_mode"] == 0o700
    assert list(tmp_root.iterdir()) == []  # the job's temporary root is gone


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the subreaper needs Linux")
@pytest.mark.parametrize("exit_code", [0, 3])
def test_a_double_forked_daemon_does_not_outlive_its_datum(
    client: Client, tmp_path: Path, exit_code: int
) -> None:
    pids = tmp_path / "daemon.pid"
    # The subshell starts a new-session `sleep` in the background and exits at once: the
    # sleep is orphaned, in no process group or session of the transform's.
    daemonize = f'(setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > "$PIDS"); exit {exit_code}'
    client.create_pipeline(
        name="p",
        input={"pfs": {"repo": "A", "glob": "/"}},
        transform={"cmd": sh(daemonize), "env": {"PIDS": str(pids)}},
        datum_tries=1,
    )
    try:
        report = client.run()
        assert (report.ok, len(report.succeeded + report.failed)) == (exit_code == 0, 1)
        pid = int(pids.read_text())
        assert not _alive(pid), f"daemon {pid} outlived its datum"
        (d,) = client.list_datums(last_job(client, "p").id)
        assert d.exit_code == exit_code
    finally:
        if pids.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pids.read_text()), signal.SIGKILL)


def test_an_unknown_program_exits_127_with_a_message(client: Client) -> None:
    client.create_pipeline(
        name="p",
        input={"pfs": {"repo": "A", "glob": "/"}},
        transform={"cmd": ["no-such-program-xyz"]},
        datum_tries=1,
    )
    (job,) = client.run().failed
    (d,) = client.list_datums(job)
    assert d.exit_code == 127
    ((_, logs),) = client.job_logs(job)
    assert "cannot run 'no-such-program-xyz'" in logs
