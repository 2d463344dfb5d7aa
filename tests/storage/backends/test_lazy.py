"""LazyBackend opens the real backend only when a method needs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.backends.lazy import LazyBackend
from storage.errors import InvalidInput, ObjectNotFound


def test_nothing_is_opened_until_used(tmp_path: Path) -> None:
    lazy = LazyBackend(str(tmp_path / "objects"))
    assert not lazy.opened
    assert lazy.url == str(tmp_path / "objects")
    assert not lazy.cheap_exists
    assert not (tmp_path / "objects").exists()
    lazy.write_meta("m.json", b"{}")
    assert lazy.opened
    assert lazy.read_meta("m.json") == b"{}"
    lazy.put("a" * 32, b"x")
    assert lazy.get("a" * 32) == b"x"
    assert lazy.exists("a" * 32)
    lazy.close()
    assert not lazy.opened
    with pytest.raises(ObjectNotFound):
        lazy.get("b" * 32)  # reopened on demand


def test_a_bad_url_fails_when_used_not_before() -> None:
    lazy = LazyBackend("ftp://nowhere")
    with pytest.raises(InvalidInput):
        lazy.exists("a" * 32)
