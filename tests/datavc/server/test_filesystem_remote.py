"""The fsspec filesystem in remote mode: ``datavc://`` through a server, with its roles."""

from __future__ import annotations

import pandas as pd
import pytest

from datavc import accounts
from datavc.errors import Forbidden
from datavc.filesystem import DatavcFileSystem
from tests.datavc.server.conftest import Server


def test_remote_reads_writes_and_transactions(server: Server) -> None:
    server.direct.create_repo("r")
    server.direct.put_file("r", "main", "a.csv", b"x\n1\n2\n")
    fs = DatavcFileSystem(server=server.url, token=server.admin_token, skip_instance_cache=True)
    server.clients.append(fs.client)  # closed with the server
    with fs.open("datavc://r@main/a.csv", "rb") as f:
        assert pd.read_csv(f)["x"].sum() == 3
    before = server.direct.inspect_commit("r", "main").id
    with fs.transaction:
        for name in ("b.txt", "c.txt"):
            with fs.open(f"r@main/{name}", "wb") as f:
                f.write(name.encode())
    head = server.direct.inspect_commit("r", "main")
    assert head.parent == before
    assert server.direct.get_file("r", "main", "c.txt") == b"c.txt"
    assert fs.find("r@main") == ["r@main/a.csv", "r@main/b.txt", "r@main/c.txt"]
    token = server.user("reader")
    accounts.grant_role(server.direct.context, "r", "reader", "reader")
    ro = DatavcFileSystem(server=server.url, token=token, skip_instance_cache=True)
    server.clients.append(ro.client)
    assert ro.cat_file("r@main/b.txt") == b"b.txt"
    with pytest.raises(Forbidden), ro.open("r@main/d.txt", "wb") as f:
        f.write(b"no")
    assert server.direct.inspect_commit("r", "main").id == head.id
