"""One sandbox per executor thread (``datavc.pipelines.executors.boxed``): every datum of a
thread runs in the same bwrap, yet sees an empty private ``/tmp``, only its own inputs, no
process left by an earlier datum; 'datavc job stop' kills the sandbox at once."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from datavc.client import Client
from datavc.pipelines.sandbox import _python_roots
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import last_job, repo_of_files, sh

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

N = 5
# What each datum saw, in its output; then it leaves a file in /tmp and a daemon behind.
PROBE = """
o=/pfs/out/$DATAVC_DATUM_ID
echo "tmp:$(ls -A /tmp | tr '\\n' ' ')" >> $o
echo "inputs:$(ls /pfs/A | tr '\\n' ' ')" >> $o
n=$(for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c 'sleep 98[7]654321')
echo "daemons:$n" >> $o
echo "shim:$PPID" >> $o
echo left > /tmp/left-$DATAVC_DATUM_ID
setsid sh -c 'sleep $((987654320 + 1))' >/dev/null 2>&1 < /dev/null &
"""


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with Client.init(tmp_path_factory.mktemp("boxed") / "store") as client:
        repo_of_files(client, "A", N, "v{i}")
        yield client


def test_datums_sharing_a_sandbox_see_nothing_of_each_other(c: Client) -> None:
    c.create_pipeline(
        name="probe", input={"pfs": {"repo": "A", "glob": "/*"}}, transform={"cmd": sh(PROBE)}, sandbox={}
    )
    assert c.run().ok, last_job(c, "probe").message
    seen = [
        dict(line.split(":", 1) for line in v.decode().splitlines()) for v in files_of(c, "probe").values()
    ]
    assert len(seen) == N
    # A private, empty /tmp for each datum. Only the mount points of the interpreter's own
    # read-only binds may show there, when Python (a venv, a CI checkout) lives under /tmp.
    mounts = sorted(
        {r.relative_to("/tmp").parts[0] for r in _python_roots() if r.is_relative_to("/tmp")}
    )
    assert all(s["tmp"].split() == mounts for s in seen), [s["tmp"] for s in seen]
    assert sorted(s["inputs"].strip() for s in seen) == [f"f{i}" for i in range(N)]  # its own input only
    assert all(s["daemons"] == "0" for s in seen)  # the earlier datums' daemons are gone
    assert len({s["shim"] for s in seen}) == 1  # one sandbox (and shim) served them all


def test_stopping_a_job_kills_its_sandbox(c: Client) -> None:
    c.create_repo("S")
    with c.commit("S", "main") as tx:
        for name in ("a", "b", "c"):
            tx.put_file(f"/{name}", name.encode())
    c.create_pipeline(
        name="slow",
        input={"pfs": {"repo": "S", "glob": "/*"}},
        transform={"cmd": sh("echo started; sleep 60")},
        sandbox={},
    )
    job = last_job(c, "slow")
    outcome: list[bool] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(c.run().ok)
        except BaseException as err:  # shown by the assertion below
            errors.append(err)

    runner = threading.Thread(target=run)
    started = time.monotonic()
    runner.start()
    while not any(d.state == "running" for d in c.list_datums(job.id)):
        assert time.monotonic() - started < 30, "the datum never started"
        time.sleep(0.05)
    time.sleep(0.3)
    assert c.stop_job(job.id).state == "killed"
    runner.join(timeout=30)
    assert not runner.is_alive() and outcome == [False], (outcome, errors)
    assert time.monotonic() - started < 30  # the sandbox was killed, not waited for
    assert c.inspect_job(job.id).state == "killed"
    assert [d.state for d in c.list_datums(job.id)].count("success") == 0
