"""Where the S3 gateway stages multipart uploads, and sweeping the abandoned ones.

Why here and not in ``datavc/server/s3``: ``datavc gc`` sweeps them too, with the same
max age as ``serve`` (``--s3-upload-max-age``, ``DATAVC_S3_UPLOAD_MAX_AGE``, default 24 h),
and gc must not need the server extra.

A store opened from a directory stages uploads in ``.datavc/s3-uploads``. A store with no
directory (``DATAVC_DB`` + ``DATAVC_OBJECTS``, as in a container) stages them in a directory
of the user's own, ``$TMPDIR/datavc-s3-uploads-<uid>/<store>``: created with mode 0700,
and refused if it exists but is a link, another user's, or open to others (parts are
other people's data, and a shared fixed path in ``/tmp`` lets anyone plant or read them).
``<store>`` is a digest of the object store's URL, so two stores never share uploads.

A client that dies between CreateMultipartUpload and Complete/Abort leaves its parts on
disk (``<upload dir>/<upload id>/``). AWS drops them with a lifecycle rule
(AbortIncompleteMultipartUpload); datavc deletes every upload untouched (no part written,
nothing renamed) for longer than the max age. Only directories named like an upload id,
directly under the upload directory, are touched; links are never followed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from datavc.errors import InvalidArgument

log = logging.getLogger(__name__)

UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
DEFAULT_MAX_AGE = timedelta(hours=24)
MAX_AGE_ENV = "DATAVC_S3_UPLOAD_MAX_AGE"


class UnsafeUploadDir(InvalidArgument):
    """The per-user upload directory exists but is not private to this user."""


def private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can use: made with mode 0700 if missing;
    refused if it is a link, not a directory, another user's, or open to group or others.

    Raises:
        UnsafeUploadDir: it exists and is not private.
    """
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    _check_private(path)
    return path


def _check_private(path: Path) -> None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise UnsafeUploadDir(
            f"{path} is not a private directory of this user (a link, another user's, or open to "
            "others): remove it, or serve a store opened from its directory (--home)"
        )


def upload_dir(home: str | None, objects: str, *, create: bool = True) -> Path:
    """The directory multipart uploads of the store are staged in (see the module's doc).

    With ``create=False`` (``gc``) nothing is made, but an existing per-user directory is
    still checked.

    Raises:
        UnsafeUploadDir: the per-user directory exists and is not private.
    """
    if home:
        return Path(home) / "s3-uploads"
    mine = Path(tempfile.gettempdir()) / f"datavc-s3-uploads-{os.getuid()}"
    store = mine / hashlib.sha256(objects.encode()).hexdigest()[:16]
    if create:
        return private_dir(private_dir(mine) / store.name)
    for p in (mine, store):
        if os.path.lexists(p):
            _check_private(p)
    return store


def _last_touched(d: Path) -> float:
    """The newest mtime of the upload directory and its entries (a part being written counts)."""
    newest = d.lstat().st_mtime
    with os.scandir(d) as it:
        for e in it:
            try:
                newest = max(newest, e.stat(follow_symlinks=False).st_mtime)
            except OSError:
                continue  # removed meanwhile (a part renamed into place)
    return newest


def sweep(upload_dir: Path, max_age: timedelta, *, now: float | None = None, dry_run: bool = False) -> int:
    """Delete uploads under ``upload_dir`` untouched for more than ``max_age`` (with ``dry_run``,
    only count them); returns how many."""
    cutoff = (time.time() if now is None else now) - max_age.total_seconds()
    removed = 0
    try:
        entries = list(os.scandir(upload_dir))
    except FileNotFoundError:
        return 0
    for e in entries:
        if not UPLOAD_ID.match(e.name) or not e.is_dir(follow_symlinks=False):
            continue
        d = Path(e.path)
        try:
            if _last_touched(d) >= cutoff:
                continue
        except OSError:
            continue  # completed or aborted meanwhile
        if not dry_run:
            shutil.rmtree(d, ignore_errors=True)
        removed += 1
    if removed and not dry_run:
        log.info("removed %d abandoned multipart upload(s) older than %s", removed, max_age)
    return removed
