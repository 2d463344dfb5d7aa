"""``storage.fileio.atomic_write``: the target is the old file or the whole new one, and a
failed write leaves no temp file behind."""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import fileio
from storage.fileio import atomic_write


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def test_writes_a_new_file_with_open_s_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write(target, b"hello")
    assert target.read_bytes() == b"hello"
    assert _mode(target) == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_replaces_an_existing_file_and_streams_pieces(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old content")
    atomic_write(target, iter([b"new ", b"con", b"tent"]), fsync=False)
    assert target.read_bytes() == b"new content"
    atomic_write(target, memoryview(b"from a view"))
    assert target.read_bytes() == b"from a view"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_mode_is_set_exactly_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomic_write(tmp_path / "ro", b"x", mode=0o444)
        atomic_write(tmp_path / "private", b"y", mode=0o600)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "ro") == 0o444
    assert _mode(tmp_path / "private") == 0o600


def test_temp_file_goes_to_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target_dir, tmp_dir = tmp_path / "objects", tmp_path / "tmp"
    target_dir.mkdir()
    tmp_dir.mkdir()
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(os.fspath(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write(target_dir / "abcd", b"data", tmp_dir=tmp_dir, prefix="abcd.")
    assert len(seen) == 1 and Path(seen[0]).parent == tmp_dir and Path(seen[0]).name.startswith("abcd.")
    assert (target_dir / "abcd").read_bytes() == b"data"
    assert list(tmp_dir.iterdir()) == []


def test_fsync_flushes_file_then_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[tuple[str, bool]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), stat.S_ISDIR(st.st_mode)))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    atomic_write(tmp_path / "f", b"durable")
    assert [is_dir for _, is_dir in synced] == [False, True]
    assert synced[1][0] == str(tmp_path)
    synced.clear()
    atomic_write(tmp_path / "g", b"not durable", fsync=False)
    assert synced == []


def _failing(pieces: list[bytes], err: BaseException) -> Iterator[bytes]:
    yield from pieces
    raise err


@pytest.mark.parametrize("err", [ValueError("corrupt chunk"), KeyboardInterrupt()])
@pytest.mark.parametrize("existing", [True, False])
def test_data_that_fails_midway_leaves_no_temp_and_never_replaces(
    tmp_path: Path, err: BaseException, existing: bool
) -> None:
    target = tmp_path / "f.bin"
    if existing:
        target.write_bytes(b"keep me")
    with pytest.raises(type(err)):
        atomic_write(target, _failing([b"partial " * 1000], err))
    assert sorted(p.name for p in tmp_path.iterdir()) == (["f.bin"] if existing else [])
    if existing:
        assert target.read_bytes() == b"keep me"


def test_disk_full_leaves_no_temp_and_never_replaces(tmp_path: Path) -> None:
    """A real write error from the kernel (EFBIG past RLIMIT_FSIZE, as ENOSPC would be)."""
    target, tmp_dir = tmp_path / "f.bin", tmp_path / "tmp"
    tmp_dir.mkdir()
    target.write_bytes(b"keep me")
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, limits[1]))
    try:
        with pytest.raises(OSError) as info:
            atomic_write(target, b"x" * (1024 * 1024), tmp_dir=tmp_dir)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert info.value.errno == errno.EFBIG
    assert target.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin", "tmp"]
    assert list(tmp_dir.iterdir()) == []


def test_failed_fsync_leaves_no_temp_never_replaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"keep me")

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_failed_rename_leaves_no_temp_and_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a-directory"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        atomic_write(target, b"cannot replace a non-empty directory")
    assert target.is_dir() and (target / "inside").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-directory"]


def test_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "f", b"x")
    assert list(tmp_path.iterdir()) == []


def test_temp_names_never_collide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A taken temp name (another writer's) is skipped, never opened or removed.
    names = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(fileio, "_token", lambda: next(names))
    atomic_write(tmp_path / "first", b"1")
    other = tmp_path / ".second.aaaaaaaaaaaa.tmp"
    other.write_bytes(b"another writer's temp file")
    atomic_write(tmp_path / "second", b"2")
    assert (tmp_path / "second").read_bytes() == b"2"
    assert other.read_bytes() == b"another writer's temp file"
