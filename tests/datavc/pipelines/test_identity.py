"""Per-pipeline identities: roles derived from the spec, following spec changes, bounded by
the roles of whoever set the spec (no privilege escalation through a spec)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datavc import accounts, errors
from datavc.client import Client
from datavc.db.models import NAME_LEN
from datavc.pipelines import identity

SPEC = {"transform": {"cmd": ["true"]}}


def _roles(c: Client, user: str) -> dict[str, str]:
    return {r.repo: r.role for r in accounts.list_roles(c.context) if r.user == user}


def test_roles_follow_the_spec_and_are_bounded_by_the_granter(tmp_path: Path) -> None:
    with Client.init(tmp_path / "s") as c:
        ctx = c.context
        for repo in ("a", "b", "secret"):
            c.create_repo(repo)
        c.create_pipeline(name="p", input={"pfs": {"repo": "a", "glob": "/"}}, **SPEC)
        assert identity.sync(ctx, "p") == {"a": "reader", "p": "writer"}  # set directly: unbounded
        assert _roles(c, "pipeline:p") == {"a": "reader", "p": "writer"}

        # A new spec version reads b as well: the identity follows it, and drops nothing it needs.
        c.update_pipeline(
            name="p",
            input={"cross": [{"pfs": {"repo": "a", "glob": "/"}}, {"pfs": {"repo": "b", "glob": "/"}}]},
            **SPEC,
        )
        assert identity.sync(ctx, "p") == {"a": "reader", "b": "reader", "p": "writer"}

        # Set by ann, who reads a and only reads p: b is not granted, p is capped at reader.
        accounts.create_user(ctx, "ann")
        accounts.grant_role(ctx, "a", "ann", "owner")
        accounts.grant_role(ctx, "p", "ann", "reader")
        assert identity.sync(ctx, "p", granted_by="ann") == {"a": "reader", "p": "reader"}
        # The bound is kept on later syncs (a job token minted for the next job re-derives it).
        assert identity.sync(ctx, "p") == {"a": "reader", "p": "reader"}
        accounts.create_user(ctx, "root", admin=True)
        assert identity.sync(ctx, "p", granted_by="root") == {"a": "reader", "b": "reader", "p": "writer"}
        accounts.create_user(ctx, "gone")
        identity.sync(ctx, "p", granted_by="gone")
        accounts.delete_user(ctx, "gone")
        assert identity.sync(ctx, "p") == {}  # whoever set the spec is gone: nothing on their behalf
        assert "secret" not in _roles(c, "pipeline:p")

        # Not a user anyone can log in as, make tokens for or grant roles to.
        with pytest.raises(errors.InvalidArgument):
            accounts.create_token(ctx, "pipeline:p")
        with pytest.raises(errors.InvalidArgument):
            accounts.grant_role(ctx, "secret", "pipeline:p", "reader")
        identity.forget(ctx, "p")
        assert _roles(c, "pipeline:p") == {}
        assert "pipeline:p" not in {u.name for u in accounts.list_users(ctx)}
        with pytest.raises(errors.NotFound):
            identity.sync(ctx, "nosuch")


def test_identity_names_fit_a_user_name_and_stay_distinct() -> None:
    long_a, long_b = "x" * 62 + "a", "x" * 62 + "b"
    names = {identity.identity_name(n) for n in ("p", long_a, long_b)}
    assert len(names) == 3 and all(len(n) <= NAME_LEN and identity.is_pipeline_identity(n) for n in names)
