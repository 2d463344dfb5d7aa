"""Where S3 multipart uploads are staged, and ``datavc gc`` sweeping the abandoned ones
(``datavc/multipart_uploads.py``)."""

from __future__ import annotations

import json
import os
import secrets
import stat
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from datavc.cli import main
from datavc.client import Client
from datavc.multipart_uploads import UnsafeUploadDir, upload_dir
from datavc.server.s3.app import default_upload_dir


def _upload(root: Path, age_seconds: float) -> Path:
    """An upload staged as the gateway stages one (``upload.json`` and a part), last touched
    ``age_seconds`` ago."""
    d = root / secrets.token_hex(16)
    d.mkdir(parents=True)
    (d / "upload.json").write_text(json.dumps({"repo": "data", "key": "main/x", "user": "alice"}))
    (d / "part-00001").write_bytes(b"part")
    t = time.time() - age_seconds
    for p in [*d.iterdir(), d]:
        os.utime(p, (t, t))
    return d


def test_gc_sweeps_abandoned_uploads_with_serves_max_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client.init(tmp_path / "store") as c:
        uploads = default_upload_dir(c)
        assert uploads == Path(c.context.home or "") / "s3-uploads"
    old, hour_old, fresh = _upload(uploads, 2 * 86400), _upload(uploads, 2 * 3600), _upload(uploads, 60)
    (uploads / "not-an-upload").mkdir()
    runner = CliRunner()
    monkeypatch.chdir(tmp_path / "store")

    dry = runner.invoke(main, ["gc", "--dry-run", "--json"], catch_exceptions=False)
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["uploads_swept"] == 1 and old.exists()

    done = runner.invoke(main, ["gc"], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    assert "deleted 1 abandoned multipart upload" in done.stdout
    assert not old.exists() and hour_old.exists() and fresh.exists()

    # The same variable as serve's --s3-upload-max-age.
    monkeypatch.setenv("DATAVC_S3_UPLOAD_MAX_AGE", "1h")
    done = runner.invoke(main, ["gc", "--json"], catch_exceptions=False)
    assert json.loads(done.stdout)["uploads_swept"] == 1
    assert not hour_old.exists() and fresh.exists() and (uploads / "not-an-upload").is_dir()

    bad = runner.invoke(main, ["gc", "--s3-upload-max-age", "soon"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ") and "--s3-upload-max-age" in bad.stderr


def test_a_store_without_a_home_stages_uploads_in_a_private_per_user_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with Client.init(tmp_path / "store") as init:
        db, objects = init.config.db, init.config.objects
    with Client.from_urls(db, objects) as c:
        assert c.context.home is None
        d = default_upload_dir(c)
    mine = tmp_path / f"datavc-s3-uploads-{os.getuid()}"
    assert d.parent == mine and d.is_dir()
    for p in (mine, d):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700 and p.stat().st_uid == os.getuid()
    assert upload_dir(None, objects) == d  # stable
    assert upload_dir(None, objects + "-other").parent == mine != upload_dir(None, objects + "-other")
    # gc of that store finds and sweeps the same directory.
    old = _upload(d, 2 * 86400)
    with Client.from_urls(db, objects) as c:
        assert c.gc().uploads_swept == 1
    assert not old.exists()

    # A directory others can use (or a link planted there) is refused, not used.
    mine.chmod(0o755)
    with pytest.raises(UnsafeUploadDir, match="not a private directory"):
        upload_dir(None, objects)
    with pytest.raises(UnsafeUploadDir):
        upload_dir(None, objects, create=False)
    mine.chmod(0o700)
    d.rename(tmp_path / "elsewhere")
    d.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeUploadDir):
        upload_dir(None, objects)
