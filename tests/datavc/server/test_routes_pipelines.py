"""Pipelines under auth: who may create one, who owns its output repo, who may change it."""

from __future__ import annotations

import pytest

from datavc import errors
from tests.datavc.server.conftest import Server

SPEC = {"input": {"pfs": {"repo": "in", "glob": "/"}}, "transform": {"cmd": ["true"]}}


def test_a_reader_of_the_inputs_creates_a_pipeline_and_owns_its_output(server: Server) -> None:
    admin = server.client(server.admin_token)
    admin.create_repo("in")
    admin.put_file("in", "main", "/a", b"a")
    ann, bob = server.client(server.user("ann")), server.client(server.user("bob"))
    with pytest.raises(errors.Forbidden, match="needs role 'reader' on repo 'in'"):
        ann.create_pipeline(name="mine", **SPEC)
    admin.grant_role("in", "ann", "reader")
    p = ann.create_pipeline(name="mine", **SPEC)
    assert p.output_repo == "mine"
    # ann owns the output; the pipeline's own identity (issue 11: workers act as it) writes it
    assert {(r.user, r.role) for r in ann.list_roles("mine")} == {
        ("ann", "owner"),
        ("pipeline:mine", "writer"),
    }
    changed = {**SPEC, "transform": {"cmd": ["true", "v2"]}}
    assert ann.update_pipeline(name="mine", **changed).version == 2
    # bob reads the inputs too, but does not own ann's pipeline: no spec change, no delete
    admin.grant_role("in", "bob", "reader")
    with pytest.raises(errors.Forbidden, match="needs role 'owner' on repo 'mine'"):
        bob.update_pipeline(name="mine", **SPEC)
    with pytest.raises(errors.Forbidden, match="needs role 'owner' on repo 'mine'"):
        bob.delete_pipeline("mine")
    # a repo that exists (here ann's deleted pipeline left its output) is not taken over
    ann.delete_pipeline("mine")
    with pytest.raises(errors.Forbidden, match="needs role 'owner' on repo 'mine'"):
        bob.create_pipeline(name="mine", **SPEC)
    with pytest.raises(errors.Forbidden, match="needs role 'reader' on repo 'in'"):
        server.client(server.user("carl")).create_pipeline(name="other", **SPEC)
    audit = [a for a in admin.audit(user="bob") if a.action == "create_pipeline"]
    assert audit and audit[0].status == 403
