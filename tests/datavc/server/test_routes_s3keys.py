"""``/api/v1/auth/s3-keys`` through the remote client: own keys for everyone, anyone's for admins."""

from __future__ import annotations

import pytest

from datavc.errors import Forbidden
from tests.datavc.server.conftest import Server


def test_through_the_server_users_manage_their_own_keys(server: Server) -> None:
    server.user("alice")
    alice = server.client(server.user("alice"))
    mine = alice.create_s3_key(name="mine")
    assert mine.user == "alice" and mine.secret
    assert [k.access_key_id for k in alice.list_s3_keys()] == [mine.access_key_id]
    with pytest.raises(Forbidden):
        alice.create_s3_key("admin")
    with pytest.raises(Forbidden):
        alice.list_s3_keys("*")
    admin = server.client(server.admin_token)
    theirs = admin.create_s3_key("alice", name="by-admin")
    assert theirs.user == "alice"
    bob_token = server.user("bob")
    bob = server.client(bob_token)
    with pytest.raises(Forbidden):
        bob.revoke_s3_key(mine.access_key_id)
    assert alice.revoke_s3_key(mine.access_key_id).revoked_at is not None
