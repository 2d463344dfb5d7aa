"""Small files read with one open, one read and one close (``storage.writer._read_small``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.errors import InvalidInput
from storage.writer import _read_small


def test_reads_the_whole_file_whatever_its_stat_said(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"0123456789" * 300_000)
    assert _read_small(str(p), 3_000_000) == p.read_bytes()
    assert _read_small(str(p), 10) == p.read_bytes()  # grew since the stat: read to its end
    assert _read_small(str(p), 5_000_000) == p.read_bytes()  # shrank
    (tmp_path / "e").write_bytes(b"")
    assert _read_small(str(tmp_path / "e"), 0) == b""


def test_an_unreadable_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        _read_small(str(tmp_path / "missing"), 1)
    with pytest.raises(InvalidInput, match="cannot read"):
        _read_small(str(tmp_path), 1)  # a directory: EISDIR on read
