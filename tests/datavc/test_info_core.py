"""``datavc.info`` re-exports the light values of ``datavc.info_core``, which ``ls`` and
``status`` use without importing ``datavc.info`` (tests/datavc/cli/test_lazy_commands.py)."""

from __future__ import annotations

from datavc import info, info_core


def test_datavc_info_still_exports_the_light_values() -> None:
    for name in ("FileInfo", "StatusInfo", "DiffInfo", "_Info"):
        assert getattr(info, name) is getattr(info_core, name)
    added = info.DiffInfo("/a", "added", None, 1, None, None)
    status = info.StatusInfo("/co", "r", "main", "c" * 32, (added,))
    assert status.to_json()["changes"] == [
        {"path": "/a", "status": "added", "old_size": None, "new_size": 1, "old_hash": None, "new_hash": None}
    ]
    assert not status.clean
