"""``OutputStore``: datum outputs between two barriers share one pack; reports carry real tree ids."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc.client import Client
from datavc.pipelines.datums import Datum
from datavc.pipelines.executors import Outcome
from datavc.pipelines.executors.outputs import OutputStore


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    c = Client.init(tmp_path / "store")
    yield c
    c.close()


def test_outputs_share_a_pack_and_are_reported_with_their_trees(client: Client, tmp_path: Path) -> None:
    store = client.context.store
    done: list[tuple[Datum, Outcome]] = []
    outputs = OutputStore(client.context, lambda d, o: done.append((d, o)))
    datums = [Datum((), f"{i:064x}") for i in range(6)]
    try:
        for i, d in enumerate(datums):
            out = tmp_path / f"out{i}"
            (out / "sub").mkdir(parents=True)
            (out / "sub" / "r.txt").write_bytes(f"result {i}\n".encode())
            placeholder = outputs.put_dir(out)
            shutil.rmtree(out)  # taken in already: a scratch directory may go at once
            outputs.report(d, Outcome(True, 1, 0, "", 0.0, placeholder))
        outputs.report(Datum((), "f" * 64), Outcome(False, 3, 1, "failed", 0.0, None))
    finally:
        outputs.close()
    assert [d for d, _ in done[:6]] == datums
    packs = set()
    for i, (_, o) in enumerate(done[:6]):
        assert o.output_tree is not None and not o.output_tree.startswith("pending")
        entry = store.get_entry(o.output_tree, "sub/r.txt")
        assert entry is not None and store.read_bytes(entry) == f"result {i}\n".encode()
        packs.update(r.oid for r in entry.refs)
    # One pack per barrier (a few at most here), not one per datum.
    assert len(packs) < len(datums)
    assert done[6][1].output_tree is None and not done[6][1].ok
