"""Writing tree objects behind datavc's back, as a hostile writer with object-store access can."""

from __future__ import annotations

import json

from sqlalchemy import update

from datavc.client import Client
from datavc.db.models import Commit
from storage.tree import MAGIC

PAYLOAD = b"written by a hostile tree\n"


def put_raw(client: Client, data: bytes) -> str:
    """Store ``data`` as one object under its own id, behind datavc's back."""
    store = client.context.store
    oid = store.algorithm.digest(data)
    store.backend.put(oid, data)
    return oid


def page(items: list[list[object]]) -> bytes:
    return MAGIC + json.dumps({"h": 0, "i": items}, ensure_ascii=False).encode()


def file_item(client: Client, name: str, content: bytes = PAYLOAD) -> list[object]:
    oid = put_raw(client, content)
    return [name, "f", len(content), oid, [oid, 0, len(content)]]


def dir_item(client: Client, name: str, tree: str, size: int = len(PAYLOAD), count: int = 1) -> list[object]:
    return [name, "d", size, tree, count]


def commit_with_tree(client: Client, repo: str, tree: str) -> str:
    """A new commit on ``repo@main`` whose root tree is ``tree`` (rewritten in the metadata)."""
    info = client.put_file(repo, "main", "/placeholder", b"x")
    with client.context.db.write() as s:
        s.execute(update(Commit).where(Commit.id == info.id).values(tree=tree))
    return info.id
