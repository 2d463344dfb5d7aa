"""Where the local executor stages datums (``scratch_dir``: ``$TMPDIR``, else a tmpfs
``/dev/shm``, else the system temporary directory; ``executor.scratch`` overrides), and
that outputs stored while the next datum runs still land under the right datum."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.pipelines import orphans
from datavc.pipelines.executors import executor_for, local
from datavc.pipelines.executors.local import SHM, LocalExecutor, _is_tmpfs, scratch_dir
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import last_job, sh

N = 12


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with Client.init(tmp_path_factory.mktemp("scratch") / "store") as client:
        client.create_repo("A")
        with client.commit("A", "main") as tx:
            for i in range(N):
                tx.put_file(f"/f{i:02d}", f"v{i}".encode())
        yield client


@pytest.mark.skipif(not _is_tmpfs(SHM), reason="this machine has no tmpfs at /dev/shm")
def test_datums_are_staged_on_tmpfs_unless_tmpdir_is_set(
    c: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert scratch_dir(c.context) == SHM
    c.create_pipeline(
        name="where",
        input={"pfs": {"repo": "A", "glob": "/f00"}},
        transform={"cmd": sh('echo "$DATAVC_OUT" > "$DATAVC_OUT/where"')},
    )
    assert c.run().ok
    assert files_of(c, "where")["/where"].decode().startswith(f"{SHM}/{orphans.RUN_PREFIX}")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert scratch_dir(c.context) == tmp_path  # an explicit TMPDIR wins


@pytest.mark.skipif(not _is_tmpfs(SHM), reason="this machine has no tmpfs at /dev/shm")
def test_a_small_tmpfs_is_not_used_for_scratch(c: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(local, "SHM_MIN_FREE", 1 << 62)  # more than any /dev/shm has free
    assert scratch_dir(c.context) == Path(tempfile.gettempdir())


def test_executor_scratch_setting_overrides(c: Client, tmp_path: Path) -> None:
    ex = executor_for(c.context, {"scratch": str(tmp_path / "big")})
    assert isinstance(ex, LocalExecutor) and ex.scratch == tmp_path / "big"


@pytest.mark.parametrize("parallelism", [1, 2])
def test_outputs_stored_during_the_next_datum_stay_with_their_datum(c: Client, parallelism: int) -> None:
    name = f"up{parallelism}"
    script = 'for f in "$DATAVC_IN"/A/*; do tr a-z A-Z < "$f" > "$DATAVC_OUT/$(basename "$f")"; done'
    c.create_pipeline(
        name=name,
        input={"pfs": {"repo": "A", "glob": "/*"}},
        transform={"cmd": sh(script)},
        parallelism=parallelism,
    )
    assert c.run().ok
    assert files_of(c, name) == {f"/f{i:02d}": f"V{i}".encode() for i in range(N)}
    job = last_job(c, name)
    assert (job.datums_processed, job.datums_failed) == (N, 0)
    trees = {d.id: d.output_tree for d in c.list_datums(job.id)}
    assert len(set(trees.values())) == N  # each datum recorded with its own output
