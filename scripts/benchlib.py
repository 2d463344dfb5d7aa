"""What the benchmark scripts share: timing, seeded data, a moto S3 server, the raw S3
reference (one ``put_object`` per file) and the results table.

``bench_storage.py`` (the object store against raw references) and ``bench.py`` (datavc
against DVC) import it as a sibling module: Python puts a script's own directory first on
``sys.path``. Importing it also puts the repository root on ``sys.path``, so both scripts
run from a checkout without installing the package.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
BUCKET = "bench"
SEED = 42
GEN_BLOCK = 64 * MiB


class BenchError(Exception):
    """A correctness check failed or a service did not start."""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ----- timing and checks -------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, fn())``."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def sync() -> None:
    """Flush dirty pages so one measurement does not pay for the previous one's writeback."""
    os.sync()


def read_all(paths: list[Path]) -> int:
    """Read every file once (warms the page cache); returns the bytes read."""
    total = 0
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            total += len(f.readall())
    return total


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise BenchError(f"correctness check failed: {msg}")


def mib_s(nbytes: int, seconds: float) -> float:
    return nbytes / MiB / seconds


# ----- data --------------------------------------------------------------------------


def write_random(
    path: Path, size: int, randbytes: Callable[[int], bytes] = os.urandom, block: int = GEN_BLOCK
) -> None:
    """A file of ``size`` bytes from ``randbytes`` (``os.urandom``, or a seeded generator's),
    asked for ``block`` bytes at a time (the block size is part of a seeded dataset's bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, block)
            f.write(randbytes(n))
            left -= n


def gen_files(
    dest: Path, count: int, dirs: int, lo: int, hi: int, rnd: random.Random, dir_digits: int = 2
) -> list[Path]:
    """``count`` files of ``lo``-``hi`` random bytes spread over ``dirs`` directories."""
    paths = []
    per_dir, extra = divmod(count, dirs)
    n = 0
    for d in range(dirs):
        sub = dest / f"d{d:0{dir_digits}d}"
        sub.mkdir(parents=True, exist_ok=True)
        for _ in range(per_dir + (1 if d < extra else 0)):
            p = sub / f"f{n:05d}.bin"
            p.write_bytes(rnd.randbytes(rnd.randint(lo, hi)))
            paths.append(p)
            n += 1
    return paths


# ----- S3 (moto) ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def moto_server(log_path: Path, timeout: float = 30.0) -> Iterator[str]:
    """A moto S3 server subprocess on a free port; yields its endpoint; always killed at exit."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise BenchError(f"moto server exited ({proc.returncode}); log: {log_path}")
                try:
                    with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                        break
                except urllib.error.HTTPError:
                    break  # any HTTP answer means it is serving
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise BenchError(f"moto server did not answer on {endpoint} in {timeout:.0f}s")
                time.sleep(0.05)
            yield endpoint
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def s3_env(endpoint: str) -> None:
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_ACCESS_KEY_ID"] = "bench"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"


def empty_prefix(client: Any, prefix: str) -> None:
    """Delete every key under ``prefix`` (frees moto's memory between runs)."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})


def bucket_usage(client: Any, prefix: str) -> tuple[int, int]:
    """(objects, bytes) under ``prefix`` in the bench bucket."""
    n = total = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for o in page.get("Contents", []):
            n += 1
            total += o["Size"]
    return n, total


def raw_put(client: Any, paths: list[Path], prefix: str) -> float:
    """The S3 reference: each file read and sent as one ``put_object``; returns seconds."""
    t0 = time.perf_counter()
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            data = f.readall()
        client.put_object(Bucket=BUCKET, Key=f"{prefix}{p.name}", Body=data)
    return time.perf_counter() - t0


class RequestCounter:
    """A botocore ``before-send`` hook counting every HTTP request (retries included)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, **kwargs: Any) -> None:
        with self._lock:
            self.count += 1


# ----- output ------------------------------------------------------------------------

#: Units that count whole things: shown without decimals.
COUNT_UNITS = ("files/s", "entries/s", "objects")


def fmt(x: float | None, unit: str = "") -> str:
    """A figure for the table (without its unit): thousands separators, 0-3 decimals."""
    if x is None:
        return "-"
    if unit in COUNT_UNITS or abs(x) >= 1000:
        return f"{x:,.0f}"
    if unit == "s" and abs(x) < 1:
        return f"{x:.3f}"
    if abs(x) >= 10:
        return f"{x:,.1f}"
    return f"{x:,.2f}"


def print_table(
    title: str,
    caption: str,
    columns: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[str]],
    width: int,
) -> None:
    """Print a rich table; ``columns`` are ``(name, right-justified)``. ``width`` applies when
    stdout is not a terminal (a file or a pipe), so saved results do not wrap."""
    console = Console(width=None if sys.stdout.isatty() else width, highlight=False)
    table = Table(title=title, caption=caption, caption_justify="left")
    for name, right in columns:
        table.add_column(name, justify="right" if right else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
