"""A million small files in one commit (issue 15): ``bench_speed.py --scale`` runs this.

Each datavc operation runs in its own process, so its peak RSS is its own; each figure is
printed beside a raw reference measured in the same run:

- ``put`` of N files of 1-4 KiB to a local store, against reading every file once
  (``find | xargs cat``): the least any tool must do;
- ``ls -r`` through the API (``Client.list_files(recursive=True)``), against ``os.scandir``
  of the source tree;
- ``diff`` of a commit that changed 10 files, against the same diff in a 1,000-file repo
  (cost must follow the changes, not the size);
- ``status`` of a clean N-file working copy (made with ``adopt``, which does not rewrite the
  files), against a scandir walk that ``lstat``s every file.

The tree (1,000 files per directory) lives under the work directory and is removed after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import check, log, rmtree, sync

PER_DIR = 1000

_CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
from datavc.client import Client
home, op, src, extra = sys.argv[1:5]
out = {}
t0 = time.perf_counter()
if op == "put":
    c = Client.init(home)
    c.create_repo("s")
    t0 = time.perf_counter()
    c.put_file("s", "main", "/", Path(src))
    out["secs"] = time.perf_counter() - t0
elif op == "ls":
    c = Client.open(home)
    t0 = time.perf_counter()
    n = sum(1 for _ in c.list_files("s", "main", "/", recursive=True))
    out["secs"] = time.perf_counter() - t0
    out["entries"] = n
elif op == "diff":
    c = Client.open(home)
    c.put_file("s", "main", "/", Path(extra))  # 10 changed files, one commit
    t0 = time.perf_counter()
    changes = list(c.diff("s", "main~1", "main"))
    out["secs"] = time.perf_counter() - t0
    out["changes"] = len(changes)
    c.create_repo("small")
    c.put_file("small", "main", "/", Path(src) / "d0000")
    c.put_file("small", "main", "/", Path(extra) / "d0000")
    t0 = time.perf_counter()
    out["small_changes"] = len(list(c.diff("small", "main~1", "main")))
    out["small_secs"] = time.perf_counter() - t0
elif op == "adopt":
    c = Client.open(home)
    c.create_repo("w")
    t0 = time.perf_counter()
    c.adopt("w", "main", Path(src))
    out["secs"] = time.perf_counter() - t0
elif op == "status":
    c = Client.open(home)
    t0 = time.perf_counter()
    st = c.status(Path(src))
    out["secs"] = time.perf_counter() - t0
    out["changes"] = len(st.changes)
c.close()
out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def generate(src: Path, n: int) -> int:
    """``n`` files of 1-4 KiB, ``PER_DIR`` per directory, distinct contents (slices of one
    random buffer at distinct offsets); returns the bytes written."""
    buf = os.urandom(64 * 1024 * 1024)
    total = 0
    for i in range(n):
        d, f = divmod(i, PER_DIR)
        if f == 0:
            (src / f"d{d:04d}").mkdir(parents=True)
        size = 1024 + (i * 2654435761) % 3073  # 1-4 KiB, spread evenly
        at = (i * 61) % (len(buf) - 4096)
        with open(src / f"d{d:04d}" / f"f{f:04d}.bin", "wb") as fh:
            fh.write(buf[at : at + size])
        total += size
    return total


def _child(home: Path, op: str, src: Path, extra: Path) -> dict[str, Any]:
    sync()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(home), op, str(src), str(extra)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{op} failed: {done.stderr[-2000:]}")
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"scale files: {op}: " + ", ".join(f"{k} {v:.3g}" for k, v in got.items()))
    return got


def _scan(src: Path, stat: bool) -> tuple[float, int]:
    """Seconds to walk ``src`` with scandir (and ``lstat`` every file), and entries seen."""
    t0 = time.perf_counter()
    n = 0
    stack = [str(src)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                n += 1
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif stat:
                    e.stat(follow_symlinks=False)
    return time.perf_counter() - t0, n


def bench_scale_files(work: Path, n: int, row: Callable[..., Any]) -> list[Any]:
    """The N-file rows (``row`` builds one ``bench_speed.Row``)."""
    src, home, extra = work / "many", work / "dv-many", work / "many-changes"
    try:
        t0 = time.perf_counter()
        nbytes = generate(src, n)
        log(f"scale files: {n:,} files ({nbytes / 2**20:.0f} MiB) made in {time.perf_counter() - t0:.1f}s")
        for i in range(10):  # 10 changed files in d0000 (the same names, new bytes)
            p = extra / "d0000" / f"f{i * 97:04d}.bin"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(os.urandom(2000))
        sync()
        t0 = time.perf_counter()
        subprocess.run(f"find {src} -type f -print0 | xargs -0 cat > /dev/null", shell=True, check=True)
        raw_read = time.perf_counter() - t0
        put = _child(home, "put", src, extra)
        ls = _child(home, "ls", src, extra)
        check(ls["entries"] >= n, f"ls -r listed {ls['entries']} entries")
        scan_secs, scanned = _scan(src, stat=False)
        diff = _child(home, "diff", src, extra)
        check(diff["changes"] == 10 and diff["small_changes"] == 10, f"diff found {diff}")
        adopt = _child(home, "adopt", src, extra)
        status = _child(home, "status", src, extra)
        check(status["changes"] == 0, "the adopted copy is clean")
        stat_secs, _ = _scan(src, stat=True)
    finally:
        for p in (src, home, extra):
            rmtree(p)
    rss = max(put["rss_mib"], ls["rss_mib"], diff["rss_mib"], status["rss_mib"])
    return [
        row(
            f"put {n:,} files of 1-4 KiB, local store",
            "files/s",
            n / put["secs"],
            n / raw_read,
            "find | xargs cat of the files",
            "≥ 20,000 files/s",
            n / put["secs"] >= 20_000,
        ),
        row(
            f"ls -r of {n:,} files through the API",
            "entries/s",
            ls["entries"] / ls["secs"],
            scanned / scan_secs,
            "os.scandir walk of the source",
            "≥ 200,000 entries/s",
            ls["entries"] / ls["secs"] >= 200_000,
        ),
        row(
            f"diff of 10 changes in a {n:,}-file commit",
            "s",
            diff["secs"],
            diff["small_secs"],
            "the same diff in a 1,000-file repo",
            "≤ 0.5 s",
            diff["secs"] <= 0.5,
        ),
        row(
            f"status of a clean {n:,}-file checkout",
            "s",
            status["secs"],
            stat_secs,
            "scandir + lstat of every file",
            "≤ 3 s",
            status["secs"] <= 3.0,
        ),
        row(
            f"adopt of the {n:,}-file directory (makes the checkout)",
            "s",
            adopt["secs"],
            put["secs"],
            "put of the same files",
            "-",
            None,
        ),
        row(
            f"peak RSS of put / ls / diff / status, {n:,} files",
            "MiB",
            rss,
            adopt["rss_mib"],
            "adopt's peak RSS",
            "≤ 500 MiB",
            rss <= 500 and adopt["rss_mib"] <= 500,
        ),
    ]
