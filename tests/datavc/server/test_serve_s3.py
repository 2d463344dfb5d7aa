"""``datavc serve`` runs the S3 gateway on --s3-port next to the API, and stops both on SIGTERM."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

from datavc import accounts, s3keys
from datavc.client import Client
from tests.datavc.server.conftest import free_port
from tests.datavc.server.test_serve import START_TIMEOUT, ServeProcess


def test_serve_runs_the_gateway_on_its_own_port(tmp_path: Path) -> None:
    home = tmp_path / "store"
    with Client.init(home) as c:
        c.create_repo("r")
        c.put_file("r", "main", "f.txt", b"served")
        accounts.create_user(c.context, "u", admin=True)
        key = s3keys.create_key(c.context, "u")
    s3_port = free_port()
    proc = ServeProcess(home, "--s3-port", str(s3_port), "--log-level", "warning")
    try:
        proc.wait_serving(f"http://127.0.0.1:{proc.port}")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{s3_port}/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, proc.output()
                time.sleep(0.1)
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        assert s3.get_object(Bucket="r", Key="main/f.txt")["Body"].read() == b"served"
    finally:
        assert proc.stop() in (0, -signal.SIGTERM), proc.output()
    assert key.secret is not None and key.secret not in proc.output()
