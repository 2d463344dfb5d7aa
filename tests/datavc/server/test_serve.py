"""``datavc serve`` as a process: bootstrap, TLS (a trustme CA), no secret in its output; concurrency."""

from __future__ import annotations

import os
import signal
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from click.testing import CliRunner

from datavc import errors
from datavc.cli import main
from datavc.client import Client
from datavc.remote import RemoteClient
from tests.datavc.server.conftest import Server, free_port

START_TIMEOUT = 30.0


class ServeProcess:
    def __init__(self, home: Path, *args: str) -> None:
        self.port = free_port()
        self.log = home.parent / f"serve-{self.port}.log"
        self._out = open(self.log, "wb")  # noqa: SIM115 -- closed in stop()
        # The S3 gateway's default port is fixed (8421): give each server its own, so
        # servers started at once (tests in parallel, pytest-xdist) do not collide.
        env = dict(os.environ)
        if "--s3-port" not in args and "--no-s3" not in args:
            env["DATAVC_S3_PORT"] = str(free_port())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from datavc.cli import main; main()",
                "--home",
                str(home),
                "serve",
                "--port",
                str(self.port),
                *args,
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_serving(self, url: str, **kw: object) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                if httpx.get(url + "/healthz", timeout=1, **kw).status_code == 200:  # type: ignore[arg-type]
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("datavc serve did not start: " + self.output())

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode


@pytest.fixture
def processes() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for p in started:
        p.stop()


def test_serve_bootstraps_an_admin_token_file_and_never_prints_it(
    tmp_path: Path, processes: list[ServeProcess]
) -> None:
    home = tmp_path / "store"
    Client.init(home).close()
    p = ServeProcess(home)
    processes.append(p)
    url = f"http://127.0.0.1:{p.port}"
    p.wait_serving(url)
    token_file = home / ".datavc" / "admin-token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    secret = token_file.read_text().strip()
    with RemoteClient(url, secret) as admin:
        assert admin.whoami() == {
            "user": "admin",
            "admin": True,
            "token": admin.whoami()["token"],
            "roles": {},
        }
        admin.create_repo("r")
        admin.put_file("r", "main", "/f", b"x")
        with RemoteClient(url, "dvc_" + "x" * 43) as forged, pytest.raises(errors.Unauthenticated):
            forged.list_repos()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why.
    assert p.stop() in (0, -signal.SIGTERM)
    out = p.output()
    assert f"its token is in {token_file}" in out and "PUT /api/v1/repos/r" in out
    assert secret not in out


def test_serve_over_tls_with_a_private_ca(tmp_path: Path, processes: list[ServeProcess]) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_pem, key_pem, ca_pem = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_pem))
    cert.private_key_pem.write_to_path(str(key_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    home = tmp_path / "store"
    Client.init(home).close()
    p = ServeProcess(home, "--tls-cert", str(cert_pem), "--tls-key", str(key_pem))
    processes.append(p)
    url = f"https://127.0.0.1:{p.port}"
    p.wait_serving(url, verify=ssl.create_default_context(cafile=str(ca_pem)))
    secret = (home / ".datavc" / "admin-token").read_text().strip()
    with RemoteClient(url, secret, verify=str(ca_pem)) as admin:
        admin.create_repo("secure")
        assert [r.name for r in admin.list_repos()] == ["secure"]
    with RemoteClient(url, secret) as untrusting, pytest.raises(errors.BackendUnavailable):
        untrusting.list_repos()  # the system CAs do not know this certificate


def test_serve_needs_both_tls_options(tmp_path: Path) -> None:
    home = tmp_path / "store"
    Client.init(home).close()
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    result = CliRunner().invoke(main, ["--home", str(home), "serve", "--tls-cert", str(cert)])
    assert result.exit_code == 2 and result.stderr == "error: TLS needs both --tls-cert and --tls-key\n"


def test_concurrent_remote_writers_lose_nothing(server: Server) -> None:
    admin = server.client(server.admin_token)
    admin.create_repo("busy")
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with RemoteClient(server.url, server.admin_token) as c:
                for i in range(5):
                    c.put_file("busy", "main", f"/w{n}/f{i}", f"{n}-{i}".encode())
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    files = {f.path for f in admin.walk_files("busy", "main")}
    assert files == {f"/w{n}/f{i}" for n in range(6) for i in range(5)}
    assert len(list(admin.log("busy"))) == 30
    assert admin.get_file("busy", "main", "/w3/f4") == b"3-4"
