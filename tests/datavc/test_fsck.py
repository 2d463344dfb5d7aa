"""fsck (``datavc/fsck.py``) through ``datavc.Client`` on every deployment."""

from __future__ import annotations

import pytest

from datavc.client import Client
from datavc.errors import CorruptData
from tests.storage.helpers import corrupt_object


def test_fsck_detects_corruption(client: Client) -> None:
    client.create_repo("r")
    client.put_file("r", "main", "/good", b"good data")
    client.put_file("r", "main", "/victim", b"victim data " * 100)
    report = client.fsck()
    assert report.ok and report.commits_checked == 2 and report.objects_checked > 2
    entry = client.context.store.get_entry(client.inspect_commit("r", "main").tree, "victim")
    assert entry is not None
    oid = entry.refs[0].oid
    corrupt_object(client.context.store.backend, oid)

    # A fresh client (another process) holds no verified copy in memory.
    with Client.open(client.config.home) as fresh:
        report = fresh.fsck()
        assert not report.ok and report.corrupt_objects == (oid,)
        with pytest.raises(CorruptData) as info:
            fresh.get_file("r", "main", "/victim")
        assert oid in str(info.value)
        assert fresh.get_file("r", "main", "/good") == b"good data"
    # The long-lived client sees it too.
    assert client.fsck().corrupt_objects == (oid,)
