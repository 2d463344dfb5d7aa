"""Sweeping abandoned multipart uploads: staged parts nobody will complete or abort.

A client that dies between CreateMultipartUpload and Complete/Abort leaves its parts on
the server's disk (``<upload dir>/<upload id>/``). AWS drops them with a lifecycle rule
(AbortIncompleteMultipartUpload); the gateway does the same on its own: ``datavc serve``
sweeps at start and then on a timer, deleting every upload untouched (no part written,
nothing renamed) for longer than ``--s3-upload-max-age`` (default 24 h). Only
directories named like an upload id, directly under the upload directory, are touched;
links are never followed.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

from datavc.server.s3.multipart import UPLOAD_ID

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = timedelta(hours=24)


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


def sweep(upload_dir: Path, max_age: timedelta, *, now: float | None = None) -> int:
    """Delete uploads under ``upload_dir`` untouched for more than ``max_age``; returns how many."""
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
        shutil.rmtree(d, ignore_errors=True)
        removed += 1
    if removed:
        log.info("removed %d abandoned multipart upload(s) older than %s", removed, max_age)
    return removed


def sweep_every(upload_dir: Path, max_age: timedelta, stop: threading.Event) -> None:
    """Sweep now, then every quarter of ``max_age`` (1 s to 1 h) until ``stop`` is set."""
    interval = min(max(max_age.total_seconds() / 4, 1.0), 3600.0)
    while True:
        try:
            sweep(upload_dir, max_age)
        except OSError as err:  # a full or unreadable disk: the next sweep may succeed
            log.warning("sweeping multipart uploads in %s failed: %s", upload_dir, err)
        if stop.wait(interval):
            return
