"""Datum batching under control (``datavc.pipelines.executors.batched``): ``err_cmd`` runs on a
datum's last failed try with its inputs still staged; 'datavc job stop' kills the running
batched process at once and no new process starts; outputs stored while the next datum runs
still land under the right datum. One store for the module: each test has its own repos."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datavc.client import Client
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import last_job, sh

# Copies each datum's files to its output, failing the datums whose content is "fail".
PY = """
import os, datavc
for d in datavc.datums():
    src = d.inputs[os.environ["IN"]]
    for name in os.listdir(src):
        data = open(os.path.join(src, name)).read()
        if data == "fail":
            d.fail("asked to")
        else:
            open(os.path.join(d.output_dir, name), "w").write(data + "!")
"""


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with Client.init(tmp_path_factory.mktemp("batched") / "store") as client:
        yield client


def _repo(c: Client, name: str, files: dict[str, bytes]) -> None:
    c.create_repo(name)
    with c.commit(name, "main") as tx:
        for path, data in files.items():
            tx.put_file(path, data)


def _pipeline(c: Client, name: str, repo: str, transform: dict[str, Any], **kw: Any) -> None:
    c.create_pipeline(
        name=name,
        input={"pfs": {"repo": repo, "glob": "/*"}},
        transform={"datum_batching": True, "env": {"IN": repo}, **transform},
        **kw,
    )


def test_err_cmd_recovers_a_failed_datum_seeing_its_inputs(c: Client) -> None:
    _repo(c, "e_in", {f"/f{i}": b"fail" if i == 3 else f"v{i}".encode() for i in range(8)})
    err = 'echo "handling $DATAVC_DATUM_ID"; cat "$DATAVC_IN/e_in/f3"; echo; touch "$DATAVC_OUT/dropped"'
    _pipeline(c, "e_out", "e_in", {"cmd": [sys.executable, "-c", PY], "err_cmd": sh(err)}, datum_tries=1)
    assert c.run().ok
    # Every other datum kept its output under its own name; the recovered one has none.
    assert files_of(c, "e_out") == {f"/f{i}": f"v{i}!".encode() for i in range(8) if i != 3}
    logs = "".join(text for _, text in c.job_logs(last_job(c, "e_out").id))
    assert "the transform failed the datum: asked to" in logs
    assert "handling " in logs and "\nfail\n" in logs  # err_cmd ran with the datum's input staged
    assert "err_cmd exited 0: the datum is recovered" in logs


def test_err_cmd_that_fails_fails_the_datum(c: Client) -> None:
    _repo(c, "f_in", {"/a": b"fail", "/b": b"ok"})
    _pipeline(c, "f_out", "f_in", {"cmd": [sys.executable, "-c", PY], "err_cmd": sh("exit 2")}, datum_tries=1)
    assert not c.run().ok
    job = last_job(c, "f_out")
    assert (job.datums_processed, job.datums_failed) == (1, 1)
    assert "err_cmd exited 2: the datum failed" in "".join(t for _, t in c.job_logs(job.id))


def test_stopping_a_batched_job_kills_its_process_and_starts_no_other(c: Client, tmp_path: Path) -> None:
    _repo(c, "s_in", {f"/f{i}": b"x" for i in range(4)})
    marker = tmp_path / "marker"
    slow = (
        "import os, time, datavc\n"
        f"open({str(marker)!r}, 'a').write('process\\n')\n"
        "for d in datavc.datums():\n"
        f"    open({str(marker)!r}, 'a').write('datum\\n')\n"
        "    time.sleep(60)\n"
    )
    _pipeline(c, "s_out", "s_in", {"cmd": [sys.executable, "-c", slow]}, datum_tries=3)
    job = last_job(c, "s_out")
    outcome: list[bool] = []
    runner = threading.Thread(target=lambda: outcome.append(c.run().ok))
    started = time.monotonic()
    runner.start()
    while "datum" not in (marker.read_text() if marker.exists() else ""):
        assert time.monotonic() - started < 30, "no datum started"
        time.sleep(0.05)
    time.sleep(0.2)  # the datum's start (and its process) is recorded within 50 ms
    assert c.stop_job(job.id).state == "killed"
    runner.join(timeout=30)
    assert not runner.is_alive() and outcome == [False]
    assert time.monotonic() - started < 30  # killed, not waited for (the datum sleeps 60 s)
    assert marker.read_text() == "process\ndatum\n"  # no datum and no process after the stop
    assert c.inspect_job(job.id).state == "killed"
    assert c.list_branches("s_out")[0].head is None
