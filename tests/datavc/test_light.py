"""datavc.light: listings without SQLAlchemy give the client's answer, or decline to the client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc import Client
from datavc.db.migrate import HEAD_REVISION
from datavc.errors import NotFound
from datavc.identity import MARKER
from datavc.light import MARKER as LIGHT_MARKER
from datavc.light import LightReader, known_revisions


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, str]]:
    home = str(tmp_path_factory.mktemp("light") / "store")
    c = Client.init(home)
    c.create_repo("r")
    c.put_file("r", "main", "/d/a.txt", b"a")
    c.put_file("r", "main", "/d/e/b.txt", b"bb")
    c.put_file("r", "main", "/top", b"top")
    c.create_tag("r", "main", "t1")
    c.create_repo("bare")
    yield c, home
    c.close()


def test_the_marker_and_schema_revisions_agree_with_the_full_client() -> None:
    assert LIGHT_MARKER == MARKER
    assert HEAD_REVISION in known_revisions()


@pytest.mark.parametrize(
    ("ref", "path", "recursive"),
    [
        ("main", "/", False),
        ("main", "/d", False),
        ("main", "d/", False),
        ("main", "/top", False),
        ("main", "/", True),
        ("t1", "/d", False),
        ("main~1", "/", False),
    ],
)
def test_listings_match_the_client(store: tuple[Client, str], ref: str, path: str, recursive: bool) -> None:
    client, home = store
    reader = LightReader.open(home, lambda: client)
    assert reader is not None
    try:
        got = list(reader.list_files("r", ref, path, recursive=recursive))
        assert got == list(client.list_files("r", ref, path, recursive=recursive))
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("repo", "ref", "path"),
    [("r", "main", "/nope"), ("r", "nob", "/"), ("nor", "main", "/"), ("bare", "main", "/")],
)
def test_what_is_missing_is_reported_by_the_client(
    store: tuple[Client, str], repo: str, ref: str, path: str
) -> None:
    client, home = store
    reader = LightReader.open(home, lambda: client)
    assert reader is not None
    try:
        with pytest.raises(NotFound) as light_err:
            list(reader.list_files(repo, ref, path))
        with pytest.raises(NotFound) as full_err:
            list(client.list_files(repo, ref, path))
        assert str(light_err.value) == str(full_err.value)
    finally:
        reader.close()


def test_a_store_whose_halves_do_not_match_is_left_to_the_client(tmp_path: Path) -> None:
    home = tmp_path / "store"
    Client.init(home).close()
    (home / ".datavc" / "objects" / MARKER).write_text('{"store_id": "someone-else"}')
    assert LightReader.open(str(home), lambda: pytest.fail("not called")) is None
    assert LightReader.open(str(tmp_path / "nothing"), lambda: pytest.fail("not called")) is None
