"""One S3 gateway per test module: a real uvicorn server over a fresh store, users with keys.

Users: ``admin`` (admin), ``alice`` (writer on ``data``), ``bob`` (reader on ``data``),
``carol`` (no role). ``data@main`` holds a few files; tag ``v1`` points at its first commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from datavc import accounts, s3keys
from datavc.client import Client
from datavc.server.s3.app import create_app
from tests.datavc.server.conftest import free_port

START_TIMEOUT = 20.0
FILES = {
    "a.txt": b"alpha\n",
    "dir/b.csv": b"x,y\n1,2\n3,4\n",
    "dir/sub/c.bin": bytes(range(256)) * 40,
    "dir-x.txt": b"sorts before dir/ in S3 order\n",
}


@dataclass
class Gateway:
    url: str
    direct: Client
    keys: dict[str, tuple[str, str]]
    first_commit: str
    server: uvicorn.Server
    thread: threading.Thread
    tmp: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def boto3(self, user: str = "alice", signature_version: str = "s3v4") -> Any:
        import boto3
        from botocore.config import Config

        ak, sk = self.keys[user]
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ak,
            aws_secret_access_key=sk,
            region_name="us-east-1",
            config=Config(
                signature_version=signature_version,
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
            ),
        )


def start_gateway(tmp: Path) -> Gateway:
    direct = Client.init(tmp / "store")
    ctx = direct.context
    accounts.create_user(ctx, "admin", admin=True)
    for name in ("alice", "bob", "carol"):
        accounts.create_user(ctx, name)
    direct.create_repo("data")
    accounts.grant_role(ctx, "data", "alice", "writer")
    accounts.grant_role(ctx, "data", "bob", "reader")
    with direct.commit("data", "main", "seed") as tx:
        for path, data in FILES.items():
            tx.put_file(path, data)
    first = direct.inspect_commit("data", "main").id
    direct.create_tag("data", first, "v1")
    keys = {}
    for name in ("admin", "alice", "bob", "carol"):
        k = s3keys.create_key(ctx, name)
        assert k.secret is not None
        keys[name] = (k.access_key_id, k.secret)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(direct, upload_dir=tmp / "uploads"), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name=f"datavc-s3-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the S3 gateway did not start")
        time.sleep(0.02)
    return Gateway(f"http://127.0.0.1:{port}", direct, keys, first, server, thread, tmp)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("s3gw"))
    yield gw
    gw.server.should_exit = True
    gw.thread.join(timeout=10)
    gw.direct.close()
    assert not gw.thread.is_alive(), "the gateway thread did not stop"
