"""``Writer.put_dir_later``: many small directories share one pack; trees built on demand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storage.errors import InvalidInput
from storage.store import ObjectStore


def _dir(root: Path, name: str, files: dict[str, bytes]) -> Path:
    d = root / name
    for rel, data in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(data)
    return d


def test_put_later_dirs_share_one_pack_and_list_as_put_dir(mem_store: ObjectStore, tmp_path: Path) -> None:
    contents = [{"out.txt": f"x{i}\n".encode(), "sub/y": f"y{i}".encode(), "empty": b""} for i in range(5)]
    with mem_store.writer() as w:
        finishers = []
        for i, files in enumerate(contents):
            d = _dir(tmp_path, f"d{i}", files)
            finishers.append(w.put_dir_later(d, follow_symlinks=False))
            shutil.rmtree(d)  # read already: the directory may go at once
        trees = [f() for f in finishers]
    packs = {r.oid for t in trees for _, e in mem_store.walk(t) for r in e.refs}
    assert len(packs) == 1  # put_dir would have made one pack per directory
    for i, files in enumerate(contents):
        with mem_store.writer() as w:
            alone = w.put_dir(_dir(tmp_path, f"again{i}", files), follow_symlinks=False)
        # The same files as put_dir gives (only where the bytes are packed differs).
        got = [(p, e.hash, e.size, e.kind) for p, e in mem_store.walk(trees[i])]
        assert got == [(p, e.hash, e.size, e.kind) for p, e in mem_store.walk(alone)]
        for rel, data in files.items():
            entry = mem_store.get_entry(trees[i], rel)
            assert entry is not None and mem_store.read_bytes(entry) == data


def test_put_later_skips_links_and_refuses_a_file(mem_store: ObjectStore, tmp_path: Path) -> None:
    d = _dir(tmp_path, "d", {"a": b"a"})
    (d / "link").symlink_to("/etc/passwd")
    skipped: list[str] = []
    with mem_store.writer() as w:
        tree = w.put_dir_later(d, follow_symlinks=False, on_skip=lambda p, why: skipped.append(p))()
        with pytest.raises(InvalidInput):
            w.put_dir_later(d / "a")
    assert [p for p, _ in mem_store.walk(tree)] == ["a"]
    assert skipped == [str(d / "link")]
