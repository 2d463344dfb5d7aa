"""Local secrets (``datavc.pipelines.secrets``): read from a private directory, never from a
world-readable file, never shown in logs; ``mount_path`` needs a pod."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import last_job, run_ok, sh

VALUE = "s3cr3t-value"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with Client.init(tmp_path_factory.mktemp("secrets") / "store") as client:
        client.create_repo("data")
        with client.commit("data", "main") as tx:
            tx.put_file("/a", b"a")
        yield client


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "secrets"
    (root / "db-creds").mkdir(parents=True)
    (root / "db-creds" / "password").write_text(VALUE + "\n")
    for p in (root, root / "db-creds"):
        p.chmod(0o700)
    (root / "db-creds" / "password").chmod(0o600)
    monkeypatch.setenv("DATAVC_SECRETS_DIR", str(root))
    return root


def create(c: Client, name: str, secret: dict[str, str]) -> None:
    c.create_pipeline(
        {
            "pipeline": {"name": name},
            "input": {"pfs": {"repo": "data", "glob": "/"}},
            "transform": {
                "cmd": sh('echo "${DB_PASSWORD:-unset}" > "$DATAVC_OUT/seen"'),
                "secrets": [secret],
            },
            "datumTries": 1,
        }
    )


def failure_logs(c: Client, pipeline: str) -> str:
    assert not c.run().ok
    job = last_job(c, pipeline)
    assert job.state == "failure"
    return "".join(text for _, text in c.job_logs(job.id))


def test_env_var_secret_comes_from_the_private_file(c: Client, secrets_dir: Path) -> None:
    create(c, "ok", {"name": "db-creds", "key": "password", "envVar": "DB_PASSWORD"})
    run_ok(c)
    assert files_of(c, "ok") == {"/seen": f"{VALUE}\n".encode()}
    assert VALUE not in str(c.inspect_pipeline("ok").spec)  # the spec names the secret only


def test_a_world_readable_secret_fails_the_datum_without_showing_it(c: Client, secrets_dir: Path) -> None:
    (secrets_dir / "db-creds" / "password").chmod(0o644)
    create(c, "leaky", {"name": "db-creds", "key": "password", "envVar": "DB_PASSWORD"})
    logs = failure_logs(c, "leaky")
    assert "is readable by others (mode 0644); run 'chmod go=" in logs
    assert VALUE not in logs


def test_a_missing_secret_fails_the_datum_naming_it(c: Client, secrets_dir: Path) -> None:
    create(c, "missing", {"name": "other", "key": "token", "envVar": "DB_PASSWORD"})
    assert "secret 'other'" in failure_logs(c, "missing")


def test_mount_path_needs_a_pod(c: Client, secrets_dir: Path) -> None:
    create(c, "mounted", {"name": "db-creds", "mountPath": "/etc/db"})
    assert "mount_path is mounted on Kubernetes only" in failure_logs(c, "mounted")
