"""``datavc ls`` on an S3 store answers from the local cache without importing boto3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from datavc import Client
from datavc.light import REMEMBERED
from tests.datavc.helpers import cli_modules


def _boto(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in ("boto3", "botocore"))


def _home(tmp_path: Path, s3_url: str) -> Path:
    root = tmp_path / "store"
    with Client.init(root, objects=s3_url) as c:
        c.create_repo("r")
        c.put_file("r", "main", "/d/a.txt", b"a")
        c.put_file("r", "main", "/d/b.txt", b"bb")
    return root


def test_a_listing_answered_from_the_cache_needs_no_s3_client(tmp_path: Path, s3_url: str) -> None:
    home = _home(tmp_path, s3_url)
    out, _ = cli_modules(home, "ls", "r@main:/d")
    assert "/d/a.txt" in out and "/d/b.txt" in out
    remembered = home / ".datavc" / "cache" / REMEMBERED
    assert remembered.is_file()
    out2, modules = cli_modules(home, "ls", "r@main:/d")
    assert out2 == out
    assert _boto(modules) == []
    assert "logging" not in modules  # storage.cache imports it only to warn

    # What is remembered for another store is ignored, checked again and replaced.
    doc = json.loads(remembered.read_text())
    doc["store_id"] = "someone-else"
    remembered.write_text(json.dumps(doc))
    out3, modules = cli_modules(home, "ls", "r@main:/d")
    assert out3 == out
    assert _boto(modules) != []
    assert json.loads(remembered.read_text())["store_id"] != "someone-else"

    # Tree objects missing from the cache are fetched: the S3 client is opened on the first miss.
    remembered.write_text("{not json")  # unreadable: ignored, rewritten after the check
    shutil.rmtree(home / ".datavc" / "cache" / "objects")
    out5, modules = cli_modules(home, "ls", "r@main:/d")
    assert out5 == out
    assert _boto(modules) != []
    assert json.loads(remembered.read_text())["objects"] == s3_url
