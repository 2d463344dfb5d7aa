"""Sweeping abandoned multipart uploads on a timer while ``datavc serve`` runs.

What is swept, and why, is :mod:`datavc.multipart_uploads` (``datavc gc`` sweeps too):
``serve`` sweeps at start and then every quarter of ``--s3-upload-max-age``.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

from datavc.multipart_uploads import DEFAULT_MAX_AGE, sweep

__all__ = ["DEFAULT_MAX_AGE", "sweep", "sweep_every"]

log = logging.getLogger(__name__)


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
