"""Ref resolution (``datavc/refs.py``, ``datavc/names.py``): the log from a ref, ``^`` and ``~N``,
id prefixes and ``@{time}``, through ``datavc.Client`` on every deployment."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from datavc.client import Client
from datavc.errors import AmbiguousRef, InvalidArgument, NotFound


def test_log_order_limit_and_refs(client: Client) -> None:
    client.create_repo("r")
    made = [client.put_file("r", "main", f"/f{i}", b"%d" % i, message=f"m{i}") for i in range(4)]
    newest_first = [c.id for c in reversed(made)]
    log = list(client.log("r"))
    assert [c.id for c in log] == newest_first
    assert [c.message for c in log] == ["m3", "m2", "m1", "m0"]
    assert all(log[i].parent == log[i + 1].id for i in range(3)) and log[-1].parent is None
    assert [c.id for c in client.log("r", limit=2)] == newest_first[:2]
    assert [c.id for c in client.log("r", "main~2")] == newest_first[2:]

    assert client.inspect_commit("r", "main").id == made[3].id
    assert client.inspect_commit("r", "main^").id == made[2].id
    assert client.inspect_commit("r", "main^^").id == made[1].id
    assert client.inspect_commit("r", "main~2").id == made[1].id
    assert client.inspect_commit("r", "main~3").id == made[0].id
    assert client.inspect_commit("r", "main~1^").id == made[1].id
    with pytest.raises(NotFound):
        client.inspect_commit("r", "main~4")

    # Ids and unique prefixes of 6+ characters; 5 are too few.
    target = made[1].id
    assert client.inspect_commit("r", target).id == target
    others = [c.id for c in made if c.id != target]
    n = next(n for n in range(6, 33) if all(not o.startswith(target[:n]) for o in others))
    assert client.inspect_commit("r", target[:n]).id == target
    assert client.get_file("r", target[:n], "/f1") == b"1"
    with pytest.raises(NotFound):
        client.inspect_commit("r", target[:5])
    with pytest.raises(NotFound):
        client.inspect_commit("r", "0" * 32)
    for bad in ["", "main~x", "main^~-1", "ma in", "main@{yesterday}", "main@{"]:
        with pytest.raises(InvalidArgument):
            client.inspect_commit("r", bad)

    # Commit ids are per repo: another repo does not resolve them.
    client.create_repo("other")
    with pytest.raises(NotFound):
        client.inspect_commit("other", target)


def test_ambiguous_prefix(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import datavc.commits

    # Two commits sharing a 6-char prefix would take ~5,000 random ids; fix the prefix instead.
    monkeypatch.setattr(datavc.commits, "new_id", lambda: "abcdef" + uuid.uuid4().hex[6:])
    client.create_repo("r")
    a = client.put_file("r", "main", "/a", b"a")
    b = client.put_file("r", "main", "/b", b"b")
    with pytest.raises(AmbiguousRef):
        client.inspect_commit("r", "abcdef")
    with pytest.raises(InvalidArgument):  # AmbiguousRef is an InvalidArgument
        client.get_file("r", "abcdef", "/a")
    n = next(n for n in range(7, 33) if a.id[:n] != b.id[:n])
    assert client.inspect_commit("r", a.id[:n]).id == a.id
    assert client.inspect_commit("r", b.id[:n]).id == b.id


def test_ref_as_of_time(client: Client) -> None:
    client.create_repo("r")
    c1 = client.put_file("r", "main", "/f", b"old")
    time.sleep(0.02)
    between = c1.finished_at + timedelta(milliseconds=10)  # type: ignore[operator]
    time.sleep(0.02)
    c2 = client.put_file("r", "main", "/f", b"new")
    assert c2.finished_at > between  # type: ignore[operator]
    assert client.inspect_commit("r", f"main@{{{between.isoformat()}}}").id == c1.id
    assert client.get_file("r", f"main@{{{between.isoformat()}}}", "/f") == b"old"
    now = c2.finished_at + timedelta(seconds=1)  # type: ignore[operator]
    assert client.inspect_commit("r", f"main@{{{now.isoformat()}}}").id == c2.id
    assert client.inspect_commit("r", f"main@{{{now.isoformat()}}}~1").id == c1.id
    with pytest.raises(NotFound):
        client.inspect_commit("r", "main@{2000-01-01T00:00:00Z}")
    with pytest.raises(NotFound):
        client.inspect_commit("r", "nosuch@{2000-01-01T00:00:00Z}")
