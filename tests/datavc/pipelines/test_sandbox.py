"""The bubblewrap sandbox (``sandbox:`` in a spec, or ``executor.sandbox: always``): Pachyderm code
with hard-coded ``/pfs`` paths runs unchanged, and a hostile transform is contained — it cannot
read the store, its config or another datum's scratch, cannot write outside ``/pfs/out``, leaves
no daemon, has no network when asked, runs as ``transform.user``. Without bwrap the job fails
saying how to install it, unless the store allows unsandboxed runs."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.pipelines import sandbox
from tests.datavc.helpers import files_of as files
from tests.datavc.pipelines.helpers import last_job, sh

pytestmark = pytest.mark.skipif(
    sandbox.bwrap() is None or not sys.platform.startswith("linux"),
    reason="bubblewrap (bwrap) is not installed: apt-get install bubblewrap (scripts/_debian.sh does)",
)

MARK = "987654321"  # a daemon's sleep argument, to find it among the host's processes

HOSTILE = f"""
r=/pfs/out/report
try() {{ if sh -c "$1" >/dev/null 2>&1; then echo "$2 yes" >> $r; else echo "$2 no" >> $r; fi; }}
try 'cat "$STORE/.datavc/config.json"' read-store-config
try 'ls "$STORE"' list-store
try 'ls "$HOSTHOME"' list-home
try 'ls "$SCRATCH"' list-host-scratch
try 'ls -d /tmp/datavc-run-*' see-other-scratch
try 'echo x > /pfs/escape' write-pfs-root
try 'echo x > /pfs/A/f' write-input
try 'echo x > /etc/escape' write-etc
try 'echo x > "$ESCAPE"' write-host-path
try 'echo x > /tmp/t' write-private-tmp
try 'cat /pfs/A/f' read-input
grep -c ":" /proc/net/dev > /pfs/out/netdevs
id -u > /pfs/out/uid
setsid sh -c 'sleep {MARK}' >/dev/null 2>&1 < /dev/null &
cp /pfs/A/f /pfs/out/copy
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, Path, Path]]:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)
    store = tmp_path / "store"
    c = Client.init(store)
    c.create_repo("A")
    c.put_file("A", "main", "/f", b"hello")
    yield c, store, scratch
    c.close()


def _report(c: Client) -> dict[str, str]:
    text = files(c, "H")["/report"].decode()
    return dict(line.rsplit(" ", 1) for line in text.splitlines())


def _daemons() -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if MARK.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


def test_pachyderm_code_with_pfs_paths_runs_unchanged(env: tuple[Client, Path, Path]) -> None:
    c, _, _ = env
    c.create_pipeline(
        {
            "pipeline": {"name": "pach"},
            "input": {"pfs": {"repo": "A", "glob": "/*"}},
            "transform": {
                "cmd": ["sh"],
                "stdin": ["cp /pfs/A/* /pfs/out/", 'echo "$DATAVC_OUT" > /pfs/out/where'],
            },
            "sandbox": {},
        }
    )
    assert c.run().ok
    assert files(c, "pach") == {"/f": b"hello", "/where": b"/pfs/out\n"}


def test_a_spec_whose_command_names_pfs_paths_is_sandboxed_without_asking(
    env: tuple[Client, Path, Path], tmp_path: Path
) -> None:
    c, _, _ = env
    # As published (Pachyderm's montage, word count): /pfs in cmd/stdin, no sandbox section.
    spec = {"input": {"pfs": {"repo": "A", "glob": "/*"}}, "transform": {"cmd": ["sh"]}}
    c.create_pipeline(
        {
            **spec,
            "pipeline": {"name": "pach"},
            "transform": {"cmd": ["sh"], "stdin": ["cp /pfs/A/* /pfs/out/"]},
        }
    )
    assert c.run().ok
    assert files(c, "pach") == {"/f": b"hello"}
    # /pfs baked into the program instead: it runs unsandboxed, and its failure says what to do.
    program = tmp_path / "baked.sh"
    program.write_text("cp /pfs/A/f /pfs/out/f\n")
    c.create_pipeline({**spec, "pipeline": {"name": "baked"}, "transform": {"cmd": ["sh", str(program)]}})
    assert not c.run().ok
    logs = "".join(text for _, text in c.job_logs(last_job(c, "baked").id))
    assert "/pfs/<input> and /pfs/out exist only in the sandbox; add 'sandbox: {}' to the spec" in logs
    assert sandbox.uses_pfs(["python3 /edges.py", "/data/pfs/x", "$DATAVC_IN/pfs"]) is False


def test_a_hostile_transform_is_contained(env: tuple[Client, Path, Path], tmp_path: Path) -> None:
    c, store, scratch = env
    escape = tmp_path / "escaped"
    c.create_pipeline(
        name="H",
        input={"pfs": {"repo": "A", "glob": "/*"}},
        transform={
            "cmd": sh(HOSTILE),
            "env": {
                "STORE": str(store),
                "HOSTHOME": os.environ["HOME"],
                "SCRATCH": str(scratch),
                "ESCAPE": str(escape),
            },
        },
        sandbox={"network": False},
    )
    assert c.run().ok, last_job(c, "H").message
    got = _report(c)
    for what in (
        "read-store-config",
        "list-store",
        "list-home",
        "list-host-scratch",
        "see-other-scratch",
        "write-pfs-root",
        "write-input",
        "write-etc",
        "write-host-path",
    ):
        assert got[what] == "no", what
    assert got["read-input"] == "yes" and got["write-private-tmp"] == "yes"
    assert not escape.exists()
    out = files(c, "H")
    assert out["/copy"] == b"hello"
    assert out["/netdevs"] == b"1\n"  # interfaces in /proc/net/dev: lo only
    time.sleep(0.2)
    assert _daemons() == []  # the PID namespace died with the transform


def test_transform_user_runs_as_that_uid(env: tuple[Client, Path, Path]) -> None:
    c, _, _ = env
    c.create_pipeline(
        name="U",
        input={"pfs": {"repo": "A", "glob": "/*"}},
        transform={"cmd": sh("id -u > /pfs/out/uid"), "user": "65534"},
    )
    assert c.run().ok
    assert files(c, "U") == {"/uid": b"65534\n"}


def test_without_bwrap_the_job_fails_saying_how_unless_allowed(
    env: tuple[Client, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, _, _ = env
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    c.create_pipeline(
        name="S",
        input={"pfs": {"repo": "A", "glob": "/*"}},
        transform={"cmd": sh("cp $DATAVC_IN/A/f $DATAVC_OUT/")},
        sandbox={},
    )
    assert not c.run().ok
    msg = last_job(c, "S").message
    assert "bubblewrap" in msg and "apt-get install bubblewrap" in msg and "unsandboxed" in msg
    c.context.executor_settings = {"unsandboxed": "allow"}
    c.update_pipeline(
        name="S",
        input={"pfs": {"repo": "A", "glob": "/*"}},
        transform={"cmd": sh("cp $DATAVC_IN/A/f $DATAVC_OUT/")},
        sandbox={"network": True},
        reprocess=True,
    )
    assert c.run().ok
    assert files(c, "S") == {"/f": b"hello"}


def test_a_batched_transform_is_sandboxed_too(env: tuple[Client, Path, Path]) -> None:
    c, store, _ = env
    prog = (
        "import os, datavc\n"
        "for d in datavc.datums():\n"
        "    seen = os.path.exists(os.environ['STORE'])\n"
        "    open('/pfs/out/r', 'w').write(f\"{d.input_dir} {seen}\")\n"
    )
    c.create_pipeline(
        name="B",
        input={"pfs": {"repo": "A", "glob": "/*"}},
        transform={"cmd": [sys.executable, "-c", prog], "datum_batching": True, "env": {"STORE": str(store)}},
        sandbox={"network": False},
    )
    assert c.run().ok, list(c.job_logs(last_job(c, "B").id))
    assert files(c, "B") == {"/r": b"/pfs False"}
