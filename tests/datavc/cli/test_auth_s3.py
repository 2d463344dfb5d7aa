"""``datavc auth s3-key create|list|revoke``, on a store directly and through a server."""

from __future__ import annotations

import json
from pathlib import Path

from datavc import accounts
from datavc.client import Client
from tests.datavc.cli.helpers import Run, assert_error


def test_create_list_revoke_directly(store: Path, run: Run) -> None:
    with Client.open(store) as c:
        accounts.create_user(c.context, "alice")
    out = run("auth", "s3-key", "create", "--user", "alice", "--name", "laptop", "--json").stdout
    key = json.loads(out)
    assert key["user"] == "alice" and len(key["secret"]) == 40
    text = run("auth", "s3-key", "create", "--user", "alice")
    assert "aws_access_key_id = DVC" in text.stdout and "aws_secret_access_key = " in text.stdout
    assert "not shown again" in text.stderr
    listed = json.loads(run("auth", "s3-key", "list", "--user", "*", "--json").stdout)
    assert {k["access_key_id"] for k in listed} >= {key["access_key_id"]}
    assert all(k["secret"] is None for k in listed)
    assert key["secret"] not in run("auth", "s3-key", "list", "--user", "alice").stdout
    revoked = json.loads(run("auth", "s3-key", "revoke", key["access_key_id"], "--json").stdout)
    assert revoked["revoked_at"] is not None
    assert_error(run("auth", "s3-key", "revoke", "DVCNOPE", code=None), 3)
    assert_error(run("auth", "s3-key", "create", code=None), 2)  # directly: whose key?
