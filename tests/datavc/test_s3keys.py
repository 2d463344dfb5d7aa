"""S3 gateway keys: secrets derived from a master key, never stored; revocation; the master key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from datavc import accounts, s3keys
from datavc.client import Client
from datavc.errors import InvalidArgument, NotFound


@pytest.fixture
def client(tmp_path: Path) -> Client:
    c = Client.init(tmp_path / "store")
    accounts.create_user(c.context, "alice")
    return c


def test_the_secret_is_shown_once_and_stored_nowhere(client: Client) -> None:
    k = s3keys.create_key(client.context, "alice", name="laptop")
    assert k.secret is not None and len(k.secret) == 40 and k.access_key_id.startswith("DVC")
    with client.context.db.read() as s:
        rows = [tuple(str(v) for v in r) for r in s.execute(text("SELECT * FROM s3_keys"))]
    assert rows and not any(k.secret in v for r in rows for v in r)
    assert [x.secret for x in s3keys.list_keys(client.context, "alice")] == [None]
    master = s3keys.master_key(client.context)
    found = s3keys.lookup(client.context, k.access_key_id, master)
    assert found is not None and found[0].name == "alice" and found[1] == k.secret


def test_master_key_file_is_private_and_stable(client: Client) -> None:
    first = s3keys.master_key(client.context)
    assert client.context.home is not None
    path = Path(client.context.home) / s3keys.MASTER_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert s3keys.master_key(client.context) == first


def test_master_key_from_the_environment(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    k = s3keys.create_key(client.context, "alice")
    monkeypatch.setenv(s3keys.MASTER_ENV, "x" * 40)
    other = s3keys.lookup(client.context, k.access_key_id, s3keys.master_key(client.context))
    assert other is not None and other[1] != k.secret  # another master key: every secret changes
    monkeypatch.setenv(s3keys.MASTER_ENV, "short")
    with pytest.raises(InvalidArgument):
        s3keys.master_key(client.context)


def test_revoked_and_unknown_keys_do_not_authenticate(client: Client) -> None:
    k = s3keys.create_key(client.context, "alice")
    master = s3keys.master_key(client.context)
    first = s3keys.revoke_key(client.context, k.access_key_id)
    assert first.revoked_at is not None
    assert s3keys.revoke_key(client.context, k.access_key_id).revoked_at == first.revoked_at
    assert s3keys.lookup(client.context, k.access_key_id, master) is None
    assert s3keys.lookup(client.context, "DVCUNKNOWN", master) is None
    assert s3keys.lookup(client.context, "x" * 200, master) is None
    with pytest.raises(NotFound):
        s3keys.revoke_key(client.context, "DVCUNKNOWN")
    with pytest.raises(NotFound):
        s3keys.create_key(client.context, "nobody")
