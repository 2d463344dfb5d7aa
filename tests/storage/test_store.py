"""The object store on every backend: files, directories, dedup, verification, fsck, bad input."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

import pytest

from storage.backends.base import Backend
from storage.backends.memory import MemoryBackend
from storage.errors import CorruptObject, InvalidInput, PathConflict, StoreConfigError
from storage.hashing import SHA256
from storage.model import Entry
from storage.store import ObjectStore
from tests.helpers import make_tree
from tests.storage.helpers import SMALL_CHUNKS, corrupt_object


def _dataset(seed: int = 0, n: int = 60) -> dict[str, bytes]:
    rnd = random.Random(seed)
    files = {f"d{i % 4}/f{i:03d}.txt": rnd.randbytes(rnd.randint(0, 3000)) for i in range(n)}
    files["big/one.bin"] = rnd.randbytes(300_000)
    files["top.csv"] = b"a,b\n1,2\n"
    return files


# ----- configuration --------------------------------------------------------------------


def test_init_records_algorithm_and_open_checks_it(backend: Backend) -> None:
    ObjectStore.init(backend, algorithm=SHA256)
    store = ObjectStore.open(backend)
    assert store.algorithm.name == SHA256
    with pytest.raises(StoreConfigError, match="uses sha256"):
        ObjectStore.open(backend, algorithm="xxh3-128")
    with pytest.raises(StoreConfigError, match="already exists"):
        ObjectStore.init(backend, algorithm="xxh3-128")


def test_open_without_init_is_a_clear_error(backend: Backend) -> None:
    with pytest.raises(StoreConfigError, match="no object store"):
        ObjectStore.open(backend)


def test_unknown_algorithm_is_refused_before_writing(backend: Backend) -> None:
    with pytest.raises(ValueError, match="unknown hash algorithm"):
        ObjectStore.init(backend, algorithm="md5")
    assert backend.read_meta("datavc-store.json") is None


def test_sha256_store_round_trip(backend: Backend) -> None:
    store = ObjectStore.init(backend, algorithm=SHA256, chunking=SMALL_CHUNKS)
    with store.writer() as w:
        e = w.put_bytes(os.urandom(100_000), "x")
    assert len(e.hash) == 64 and all(len(r.oid) == 64 for r in e.refs)
    assert len(store.read_bytes(e)) == 100_000


# ----- files ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4095, 200_000])
def test_put_and_read_bytes(store: ObjectStore, size: int) -> None:
    data = os.urandom(size)
    with store.writer() as w:
        e = w.put_bytes(data, "f.bin")
    assert (e.name, e.kind, e.size) == ("f.bin", "file", size)
    assert e.hash == store.algorithm.digest(data)
    assert store.read_bytes(e) == data
    assert sum(r.length for r in e.refs) == size


def test_large_file_is_chunked_and_ranges_fetch_only_needed_chunks(store: ObjectStore) -> None:
    data = os.urandom(1_000_000)
    with store.writer() as w:
        e = w.put_bytes(data)
    assert len(e.refs) > 10
    assert max(r.length for r in e.refs) <= SMALL_CHUNKS.max_size
    fetched: list[str] = []
    real_get = store.backend.get
    store.backend.get = lambda oid: fetched.append(oid) or real_get(oid)  # type: ignore[method-assign]
    assert store.read_bytes(e, 500_000, 10) == data[500_000:500_010]
    assert len(fetched) <= 2
    stream = store.open_file(e)
    stream.seek(999_990)
    assert stream.read() == data[999_990:]


def test_range_outside_the_file_is_refused(store: ObjectStore) -> None:
    with store.writer() as w:
        e = w.put_bytes(b"abc")
    with pytest.raises(InvalidInput, match="outside"):
        store.read_bytes(e, 2, 5)


def test_put_file_and_export(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(150_000))
    with store.writer() as w:
        e = w.put_file(src)
    assert e.name == "in.bin"
    store.export(e, tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()


# ----- directories ----------------------------------------------------------------------


def test_put_dir_round_trip_and_small_files_share_objects(store: ObjectStore, tmp_path: Path) -> None:
    files = _dataset()
    src = make_tree(tmp_path / "src", files)
    with store.writer() as w:
        root = w.put_dir(src)
    walked = dict(store.walk(root))
    assert sorted(walked) == sorted(files)
    for path, e in walked.items():
        assert store.read_bytes(e) == files[path], path
    small_objects = {r.oid for path, e in walked.items() if not path.startswith("big/") for r in e.refs}
    assert len(small_objects) < len(files) / 5  # packed, not one object per file
    assert store.get_entry(root, "d1").count == 15  # type: ignore[union-attr]
    assert [e.name for e in store.list_dir(root, "")] == ["big", "d0", "d1", "d2", "d3", "top.csv"]
    assert store.fsck([root]).ok


def test_identical_directory_gives_identical_tree_and_stores_nothing_new(
    store: ObjectStore, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src", _dataset())
    with store.writer() as w:
        root = w.put_dir(src)
    with store.writer() as w2:
        again = w2.put_dir(src, base=root)
    assert again == root
    assert w2.stats.objects_written == 0


def test_edit_in_the_middle_of_a_large_file_stores_little(store: ObjectStore, tmp_path: Path) -> None:
    data = bytearray(os.urandom(2_000_000))
    (tmp_path / "v1").write_bytes(data)
    data[1_000_000:1_000_010] = b"0123456789"
    (tmp_path / "v2").write_bytes(data)
    with store.writer() as w:
        w.put_file(tmp_path / "v1")
    with store.writer() as w2:
        e2 = w2.put_file(tmp_path / "v2")
    assert w2.stats.bytes_written <= 3 * SMALL_CHUNKS.max_size
    assert store.read_bytes(e2) == bytes(data)


def test_update_tree_and_diff(store: ObjectStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", _dataset())
    with store.writer() as w:
        root = w.put_dir(src)
        new = w.put_bytes(b"new content")
        root2 = w.update_tree(root, {"d0": None, "top.csv": new, "x/y/z.txt": new})
    changes = {d.path: d.status for d in store.diff(root, root2)}
    assert changes["top.csv"] == "modified"
    assert changes["x/y/z.txt"] == "added"
    assert sum(1 for s in changes.values() if s == "deleted") == 15
    assert store.get_entry(root2, "d0") is None
    with store.writer() as w:
        back = w.update_tree(root2, {d.path: d.old for d in store.diff(root, root2)})
    assert back == root


def test_file_directory_conflicts_are_refused(mem_store: ObjectStore) -> None:
    with mem_store.writer() as w:
        e = w.put_bytes(b"x")
        root = w.update_tree(w.empty_tree(), {"a/b": e})
        with pytest.raises(PathConflict):
            w.update_tree(root, {"a/b/c": e})
        with pytest.raises(PathConflict):
            w.update_tree(root, {"a": e})
        replaced = w.update_tree(root, {"a": None})
        assert w.update_tree(replaced, {"a": e}) != root


@pytest.mark.parametrize("bad", ["../x", "a/../b", "a//b", "./a", "a/\x00", ""])
def test_bad_paths_are_refused(mem_store: ObjectStore, bad: str) -> None:
    with mem_store.writer() as w:
        e = w.put_bytes(b"x")
        with pytest.raises(InvalidInput):
            w.update_tree(w.empty_tree(), {bad: e})


# ----- integrity ------------------------------------------------------------------------


def test_flipped_byte_is_a_corruption_error_never_wrong_bytes(store: ObjectStore) -> None:
    data = random.Random(5).randbytes(200_000)  # seeded: always several chunks
    with store.writer() as w:
        e = w.put_bytes(data)
    assert len(e.refs) > 2
    oid = e.refs[len(e.refs) // 2].oid
    corrupt_object(store.backend, oid)
    fresh = ObjectStore.open(store.backend)  # no in-process cache
    with pytest.raises(CorruptObject) as info:
        fresh.read_bytes(e)
    assert info.value.oid == oid
    assert oid in str(info.value)
    report = fresh.fsck()
    assert report.corrupt == [oid]


def test_fsck_finds_missing_objects(store: ObjectStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", _dataset(n=10))
    with store.writer() as w:
        root = w.put_dir(src)
    victim = store.get_entry(root, "big/one.bin").refs[0].oid  # type: ignore[union-attr]
    store.backend.delete(victim)
    report = ObjectStore.open(store.backend).fsck([root])
    assert report.missing == [victim]
    assert not report.ok


def test_corrupt_tree_object_is_detected(mem_store: ObjectStore) -> None:
    with mem_store.writer() as w:
        root = w.update_tree(w.empty_tree(), {"a.txt": w.put_bytes(b"a")})
    corrupt_object(mem_store.backend, root)
    with pytest.raises(CorruptObject):
        list(ObjectStore.open(mem_store.backend).walk(root))


def test_wrong_refs_in_an_entry_fail_the_whole_file_hash(mem_store: ObjectStore) -> None:
    with mem_store.writer() as w:
        a = w.put_bytes(b"a" * 10)
        b = w.put_bytes(b"b" * 10)
    forged = Entry("x", "file", 10, a.hash, b.refs)
    with pytest.raises(CorruptObject):
        mem_store.read_bytes(forged)


# ----- bad input ------------------------------------------------------------------------


def test_symlink_loop_is_a_clear_error(mem_store: ObjectStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a/f.txt": b"x"})
    (src / "a" / "up").symlink_to(src)
    with mem_store.writer() as w, pytest.raises(InvalidInput, match="symbolic link loop"):
        w.put_dir(src)


def test_self_referencing_symlink_is_a_clear_error(mem_store: ObjectStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"f.txt": b"x"})
    (src / "me").symlink_to(src / "me")
    with mem_store.writer() as w, pytest.raises(InvalidInput, match="symbolic link loop"):
        w.put_dir(src)


def test_broken_symlink_is_a_clear_error(mem_store: ObjectStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"f.txt": b"x"})
    (src / "dangling").symlink_to(tmp_path / "nowhere")
    with mem_store.writer() as w, pytest.raises(InvalidInput, match="broken symbolic link"):
        w.put_dir(src)


def test_symlinked_file_is_stored_by_content(mem_store: ObjectStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"f.txt": b"content"})
    (src / "link.txt").symlink_to(src / "f.txt")
    with mem_store.writer() as w:
        root = w.put_dir(src)
    assert mem_store.read_bytes(mem_store.get_entry(root, "link.txt")) == b"content"  # type: ignore[arg-type]


def test_unreadable_special_file_is_a_clear_error(mem_store: ObjectStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"f.txt": b"x"})
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(src / "s.sock"))
        with mem_store.writer() as w, pytest.raises(InvalidInput, match="not a regular file"):
            w.put_dir(src)
    finally:
        sock.close()
    os.mkfifo(src / "pipe")
    (src / "s.sock").unlink()
    with mem_store.writer() as w, pytest.raises(InvalidInput, match="not a regular file"):
        w.put_dir(src)  # must not block reading the FIFO


def test_unreadable_directory_is_a_clear_error(mem_store: ObjectStore, tmp_path: Path) -> None:
    with mem_store.writer() as w, pytest.raises(InvalidInput, match="no such file"):
        w.put_dir(tmp_path / "missing")
    with mem_store.writer() as w, pytest.raises(InvalidInput, match="not a directory"):
        w.put_dir(make_tree(tmp_path / "src", {"f": b""}) / "f")


def test_non_utf8_name_is_a_clear_error(mem_store: ObjectStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"ok.txt": b"x"})
    with open(os.path.join(os.fsencode(src), b"bad-\xff.txt"), "wb") as f:
        f.write(b"x")
    with mem_store.writer() as w, pytest.raises(InvalidInput, match="not valid UTF-8"):
        w.put_dir(src)


def test_failed_writer_leaves_no_tree_behind(tmp_path: Path) -> None:
    backend = MemoryBackend()
    store = ObjectStore.init(backend, chunking=SMALL_CHUNKS)
    src = make_tree(tmp_path / "src", {"a.txt": b"x", "b.txt": b"y"})
    (src / "zz-dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InvalidInput), store.writer() as w:
        w.put_dir(src)
    assert not any(store.is_tree(oid) for oid in backend.iter_ids())
