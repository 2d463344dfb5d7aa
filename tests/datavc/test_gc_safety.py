"""gc safety: the grace period cannot go below the open-commit max age, and writers never lose objects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from datavc.cli import main
from datavc.client import Client
from datavc.errors import InvalidArgument
from storage.backends.local import LocalBackend
from tests.datavc.cli.helpers import assert_error

REPO_ROOT = Path(__file__).resolve().parents[2]


def _backdate(client: Client, age: float) -> None:
    backend = client.context.store.backend
    assert isinstance(backend, LocalBackend)
    old = time.time() - age
    for oid in backend.iter_ids():
        os.utime(backend.object_path(oid), (old, old))


def test_grace_below_the_open_commit_max_age_is_refused_without_force(tmp_path: Path) -> None:
    c = Client.init(tmp_path / "s", open_commit_max_age=timedelta(hours=2))
    c.create_repo("r")
    c.put_file("r", "main", "/a", b"a")
    c.delete_repo("r", force=True)
    _backdate(c, 3600)  # one hour old garbage
    with pytest.raises(InvalidArgument, match="open_commit_max_age"):
        c.gc(grace=timedelta(minutes=30))
    assert c.gc(dry_run=True, grace=timedelta(0)).objects_deleted > 0  # a dry run deletes nothing: allowed
    default = c.gc()  # the default grace is the max age: the hour-old garbage stays
    assert default.objects_deleted == 0 and default.objects_kept_grace > 0
    assert c.gc(grace=timedelta(0), force=True).objects_deleted > 0
    c.close()


def test_gc_cli_refuses_a_short_grace_and_says_why(tmp_path: Path) -> None:
    runner = CliRunner()
    home = str(tmp_path / "s")
    assert runner.invoke(main, ["init", home]).exit_code == 0
    msg = assert_error(runner.invoke(main, ["--home", home, "gc", "--grace", "1h"]), 2)
    assert "open_commit_max_age (1d)" in msg and "--force" in msg
    assert runner.invoke(main, ["--home", home, "gc", "--grace", "1h", "--force"]).exit_code == 0
    assert runner.invoke(main, ["--home", home, "gc", "--grace", "2d"]).exit_code == 0


@pytest.mark.parametrize("bad", ["99999999999w", "1e400s", "-1s", "5x", "", "nan", "1h-", "9" * 400 + "s"])
def test_absurd_or_malformed_grace_is_one_error(tmp_path: Path, bad: str) -> None:
    runner = CliRunner()
    home = str(tmp_path / "s")
    assert runner.invoke(main, ["init", home]).exit_code == 0
    for extra in ([], ["--force"], ["--dry-run"]):
        assert_error(runner.invoke(main, ["--home", home, "gc", "--grace", bad, *extra]), 2)


WRITER = """
import json, sys, time
from datavc.client import Client
from datavc.errors import CommitExpired
home, w, seconds, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
reuse = json.loads(sys.argv[5])
done = []
expired = 0
with Client.open(home) as c:
    until = time.time() + seconds  # after the (slow) imports
    j = 0
    while time.time() < until:
        new = f"writer {w} file {j} ".encode() * (1 + j % 7)
        data = bytes.fromhex(reuse[j % len(reuse)]) if j % 2 == 0 else new
        try:
            c.put_file("r", "main", f"/w{w}/f{j}", data)
            done.append([f"/w{w}/f{j}", data.hex()])
        except CommitExpired:
            expired += 1  # too slow for the store's max age: refused, never half-committed
        j += 1
with open(out, "w") as f:
    json.dump(done, f)
print(f"writer {w}: {len(done)} committed, {expired} expired", file=sys.stderr)
"""


def test_concurrent_writers_never_lose_an_object_to_gc_at_the_minimum_grace(tmp_path: Path) -> None:
    max_age = 10.0  # a put must finish within it; generous for a loaded 2-core machine
    client = Client.init(tmp_path / "s", open_commit_max_age=timedelta(seconds=max_age))
    home = str(tmp_path / "s")
    # Old garbage that the writers are about to need again (identical content).
    garbage = [f"garbage {k} ".encode() * (40 + k) for k in range(12)]
    client.create_repo("old")
    with client.commit("old") as tx:
        for k, data in enumerate(garbage):
            tx.put_file(f"/g{k}", data)
    client.create_repo("r")
    client.put_file("r", "main", "/seed", b"seed")
    client.delete_repo("old", force=True)
    _backdate(client, 3600)

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                home,
                str(w),
                "5",
                str(tmp_path / f"w{w}.json"),
                json.dumps([g.hex() for g in garbage]),
            ],
            cwd=REPO_ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    runs = deleted = 0
    while any(p.poll() is None for p in writers) or runs == 0:
        deleted += client.gc(grace=timedelta(seconds=max_age)).objects_deleted  # the minimum: no force
        runs += 1
    for p in writers:
        _, err = p.communicate()
        assert p.returncode == 0, err
        print(err.strip())
    committed = [item for w in range(4) for item in json.loads((tmp_path / f"w{w}.json").read_text())]
    print(f"gc runs: {runs}, objects deleted: {deleted}, committed files: {len(committed)}")
    assert runs >= 2 and len(committed) >= 8
    for path, hexdata in committed:
        assert client.get_file("r", "main", path) == bytes.fromhex(hexdata), path
    info = client.fsck()
    assert info.ok, info
    for c in client.log("r"):  # every commit of the race, not only the head
        for f in client.walk_files("r", c.id):
            assert len(client.get_file("r", c.id, f.path)) == f.size
    client.close()
