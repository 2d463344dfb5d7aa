"""Abandoned multipart uploads are swept; ListMultipartUploads and AbortMultipartUpload agree.

Uploads are made through boto3 against the module's gateway; "abandoned" is made by
moving an upload's mtimes back, so no test waits a day. The timer is tested with a
short age.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from datavc.server.s3.sweep import sweep, sweep_every
from tests.datavc.server.s3.conftest import Gateway, start_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("s3sweep"))
    yield gw
    gw.server.should_exit = True
    gw.thread.join(timeout=10)
    gw.direct.close()


def start(s3: Any, key: str) -> str:
    up = s3.create_multipart_upload(Bucket="data", Key=key)
    s3.upload_part(Bucket="data", Key=key, UploadId=up["UploadId"], PartNumber=1, Body=b"part")
    return str(up["UploadId"])


def age(d: Path, seconds: float) -> None:
    """Make the upload directory ``d`` and its files look untouched for ``seconds``."""
    t = time.time() - seconds
    for p in [*d.iterdir(), d]:
        os.utime(p, (t, t), follow_symlinks=False)


def listed(s3: Any) -> set[str]:
    return {u["UploadId"] for u in s3.list_multipart_uploads(Bucket="data").get("Uploads", [])}


def code(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_uploads_untouched_past_the_age_are_swept_and_then_unknown(gateway: Gateway) -> None:
    s3, uploads = gateway.boto3("alice"), gateway.tmp / "uploads"
    old, fresh = start(s3, "main/old.bin"), start(s3, "main/fresh.bin")
    theirs = start(gateway.boto3("admin"), "main/admins.bin")
    assert listed(s3) == {old, fresh}  # only the caller's own uploads
    age(uploads / old, 2 * 86400)
    assert sweep(uploads, timedelta(hours=24)) == 1
    assert not (uploads / old).exists() and (uploads / fresh).is_dir() and (uploads / theirs).is_dir()
    assert listed(s3) == {fresh}
    for call in (
        lambda: s3.abort_multipart_upload(Bucket="data", Key="main/old.bin", UploadId=old),
        lambda: s3.list_parts(Bucket="data", Key="main/old.bin", UploadId=old),
        lambda: s3.upload_part(Bucket="data", Key="main/old.bin", UploadId=old, PartNumber=2, Body=b"x"),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            call()
        assert code(exc) == "NoSuchUpload"
    # A part written recently keeps an old upload alive: the age counts from the last touch.
    age(uploads / fresh, 2 * 86400)
    s3.upload_part(Bucket="data", Key="main/fresh.bin", UploadId=fresh, PartNumber=2, Body=b"more")
    assert sweep(uploads, timedelta(hours=24)) == 0
    s3.abort_multipart_upload(Bucket="data", Key="main/fresh.bin", UploadId=fresh)
    assert listed(s3) == set() and not (uploads / fresh).exists()
    gateway.boto3("admin").abort_multipart_upload(Bucket="data", Key="main/admins.bin", UploadId=theirs)


def test_the_sweep_touches_only_upload_directories(gateway: Gateway, tmp_path: Path) -> None:
    uploads = gateway.tmp / "uploads"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    link = uploads / ("f" * 32)
    link.symlink_to(outside, target_is_directory=True)
    notes = uploads / "notes"
    notes.mkdir()
    for p in (outside, notes):
        age(p, 10 * 86400)
    os.utime(link, (0, 0), follow_symlinks=False)
    try:
        assert sweep(uploads, timedelta(seconds=1)) == 0
        assert (outside / "keep").read_text() == "keep" and notes.is_dir() and link.is_symlink()
    finally:
        link.unlink()
        notes.rmdir()
    assert sweep(tmp_path / "no-such-dir", timedelta(seconds=1)) == 0


def test_the_timer_sweeps_with_a_short_age(gateway: Gateway) -> None:
    s3, uploads = gateway.boto3("alice"), gateway.tmp / "uploads"
    up = start(s3, "main/short.bin")
    stop = threading.Event()
    timer = threading.Thread(target=sweep_every, args=(uploads, timedelta(seconds=0.5), stop), daemon=True)
    timer.start()
    try:
        deadline = time.monotonic() + 10
        while (uploads / up).exists():
            assert time.monotonic() < deadline, "the timer did not sweep the upload"
            time.sleep(0.1)
    finally:
        stop.set()
        timer.join(timeout=5)
    assert not timer.is_alive() and up not in listed(s3)
