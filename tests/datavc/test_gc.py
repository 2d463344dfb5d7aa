"""Garbage collection (``datavc/gc.py``) through ``datavc.Client`` on every deployment."""

from __future__ import annotations

from datetime import timedelta

from datavc.client import Client
from tests.datavc.helpers import assert_fsck_clean, files_of, object_ids


def test_gc(client: Client) -> None:
    client.create_repo("keep")
    client.create_repo("drop")
    shared = b"shared by both repos " * 50
    client.put_file("keep", "main", "/shared", shared)
    client.put_file("keep", "main", "/kept", b"only in keep")
    client.put_file("drop", "main", "/shared", shared)
    client.put_file("drop", "main", "/unique", b"only in drop " * 20)
    unique = client.inspect_file("drop", "main", "/unique")
    drop_tree = client.inspect_commit("drop", "main").tree
    store = client.context.store
    unique_oid = store.get_entry(drop_tree, "unique").refs[0].oid  # type: ignore[union-attr]

    info = client.gc(dry_run=True, grace=timedelta(0))
    assert info.dry_run and info.objects_deleted == 0
    assert info.objects_reachable == info.objects_total  # nothing is garbage yet

    client.delete_repo("drop", force=True)
    total = len(object_ids(client))
    dry = client.gc(dry_run=True, grace=timedelta(0))
    assert dry.objects_deleted > 0 and dry.bytes_deleted >= unique.size
    assert len(object_ids(client)) == total  # dry run deleted nothing
    # With the default grace period (1 h) young garbage stays.
    young = client.gc()
    assert young.objects_deleted == 0 and young.objects_kept_grace == dry.objects_deleted

    done = client.gc(grace=timedelta(0))
    assert (done.objects_deleted, done.bytes_deleted) == (dry.objects_deleted, dry.bytes_deleted)
    assert len(object_ids(client)) == total - done.objects_deleted
    assert unique_oid not in object_ids(client)
    assert drop_tree not in object_ids(client)
    assert files_of(client, "keep") == {"/shared": shared, "/kept": b"only in keep"}
    assert_fsck_clean(client)
    assert client.gc(grace=timedelta(0)).objects_deleted == 0
    # The shared content can be put again into a new repo.
    client.create_repo("drop")
    client.put_file("drop", "main", "/unique", b"only in drop " * 20)
    assert client.get_file("drop", "main", "/unique") == b"only in drop " * 20
    assert_fsck_clean(client)


def test_gc_keeps_open_commits(client: Client) -> None:
    client.create_repo("r")
    client.put_file("r", "main", "/base", b"base")
    c = client.start_commit("r")
    client.put_file("r", "main", "/pending", b"not finished yet " * 10, commit=c.id)
    client.gc(grace=timedelta(0))
    done = client.finish_commit("r", c.id)
    assert client.get_file("r", done.id, "/pending") == b"not finished yet " * 10
    assert_fsck_clean(client)
