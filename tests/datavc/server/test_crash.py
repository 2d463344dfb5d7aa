"""A server SIGKILLed in the middle of a large put: no partial commit, a clear client error, intact store.

The client (``datavc put ... -`` through ``DATAVC_SERVER``) streams a large body slowly from
a pipe; the server process is killed once part of it has gone over the wire. The client must
print one ``error:`` line and exit 7. A new server on the same store then serves everything
committed before, byte for byte, has no trace of the interrupted put, and fsck is clean.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from datavc.client import Client
from datavc.remote import RemoteClient
from tests.datavc.server.test_serve import ServeProcess

CHUNK = 1 << 20  # 1 MiB per write
BEFORE_KILL = 8  # MiB sent before the server dies
AFTER_KILL = 8  # MiB the client still tries to send


def _serve(home: Path) -> tuple[ServeProcess, str, str]:
    p = ServeProcess(home)
    url = f"http://127.0.0.1:{p.port}"
    p.wait_serving(url)
    return p, url, (home / ".datavc" / "admin-token").read_text().strip()


def test_sigkill_mid_put_leaves_no_partial_commit_and_a_clean_store(tmp_path: Path) -> None:
    home = tmp_path / "store"
    Client.init(home).close()
    p, url, token = _serve(home)
    try:
        committed = {f"/f{i}.bin": os.urandom(1000 + i * 70_000) for i in range(5)}
        with RemoteClient(url, token) as c:
            c.create_repo("data")
            for path, content in committed.items():
                c.put_file("data", "main", path, content)
            history = [ci.id for ci in c.log("data")]
        env = {**os.environ, "DATAVC_SERVER": url, "DATAVC_TOKEN": token}
        put = subprocess.Popen(
            [sys.executable, "-c", "from datavc.cli import main; main()", "put", "data@main:/big.bin", "-"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert put.stdin is not None
        piece = os.urandom(CHUNK)
        for _ in range(BEFORE_KILL):
            put.stdin.write(piece)
            put.stdin.flush()
            time.sleep(0.05)
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait(timeout=10)
        try:
            for _ in range(AFTER_KILL):
                put.stdin.write(piece)
                put.stdin.flush()
                time.sleep(0.02)
            put.stdin.close()
        except BrokenPipeError:
            pass  # the client already gave up: fine, its exit status tells how
        out, err = put.communicate(timeout=60)
    finally:
        p.stop()
    text = err.decode()
    assert put.returncode == 7, (put.returncode, out, text)
    assert text.startswith("error: ") and text.count("\n") == 1, text
    assert f"cannot reach the datavc server at {url}" in text
    assert "Traceback" not in text and token not in text
    assert p.proc.returncode == -signal.SIGKILL

    q, url, token = _serve(home)
    try:
        with RemoteClient(url, token) as c:
            assert [ci.id for ci in c.log("data")] == history
            assert {f.path for f in c.walk_files("data", "main")} == set(committed)
            for path, content in committed.items():
                assert c.get_file("data", "main", path) == content
            assert c.list_open_commits("data") == []
            info = c.fsck()
            assert info.ok, info
            assert info.commits_checked >= len(history)
    finally:
        q.stop()
