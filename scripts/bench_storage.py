#!/usr/bin/env python3
"""Benchmark the object store (``storage/``) against raw references measured in the same run.

Workloads:

(a) large random files: ingest MiB/s into the local backend vs a raw fsync'd copy, and into
    S3 (a moto server started here) vs one raw ``put_object`` per file;
(b) many small files: files/s into the local backend and into S3 vs a raw ``os`` read of
    every file, and the S3 requests made per 100 files;
(c) dedup: (a)+(b) as one tree, then a second version with 1% of the small files
    rewritten and 1 MiB appended to 2 large files, stored with ``base=`` the first;
(d) peak RSS of a child process storing one big file vs a child that only imports storage.

Prints one table (figure, reference, ratio, target). ``--quick`` for a smoke run,
``--json`` to also print the results as JSON. Exits 1 if a correctness check fails;
missed targets are reported in the table (exit status 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import boto3  # noqa: E402
import xxhash  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from storage.backends.s3 import S3Backend  # noqa: E402
from storage.model import DataRef, Entry  # noqa: E402
from storage.store import ObjectStore  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
BUCKET = "bench"
SEED = 42
GEN_BLOCK = 64 * MiB


@dataclass(frozen=True, slots=True)
class Sizes:
    large_count: int
    large_size: int
    small_count: int
    small_dirs: int
    big_size: int
    changed_small: int
    appended_large: int = 2
    append_bytes: int = 1 * MiB
    small_min: int = 1 * KiB
    small_max: int = 8 * KiB


FULL = Sizes(20, 50 * MiB, 20_000, 100, 2 * GiB, 200)
QUICK = Sizes(4, 8 * MiB, 2_000, 20, 256 * MiB, 20)


@dataclass(slots=True)
class Row:
    """One line of the table: a figure, the reference beside it, their ratio and the target."""

    workload: str
    metric: str
    value: float
    unit: str
    reference: float | None
    ref_label: str
    ratio: float | None
    target: str
    ok: bool | None
    details: dict[str, Any] = field(default_factory=dict)


class BenchError(Exception):
    """A correctness check failed or a service did not start."""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ----- helpers -----------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
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


def tree_size(path: Path) -> int:
    """Total apparent size of the regular files below ``path``."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise BenchError(f"correctness check failed: {msg}")


def files_below(root: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        out.extend(Path(dirpath) / f for f in sorted(files))
    return out


def verify_readback(store: ObjectStore, root: str, src: Path, expected: int, sample: int, seed: int) -> None:
    """``store.walk(root)`` has ``expected`` files; ``sample`` of them read back equal to ``src``."""
    entries = list(store.walk(root))
    check(len(entries) == expected, f"walk found {len(entries)} files, expected {expected}")
    rnd = random.Random(seed)
    picks = rnd.sample(entries, min(sample, len(entries)))
    for rel, entry in picks:
        want = (src / rel).read_bytes()
        check(entry.size == len(want), f"{rel}: size {entry.size} != {len(want)}")
        check(store.read_bytes(entry) == want, f"{rel}: content read back differs from the source")


# ----- data --------------------------------------------------------------------------


def gen_large(dest: Path, sizes: Sizes) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(sizes.large_count):
        p = dest / f"f{i:03d}.bin"
        with open(p, "wb") as f:
            left = sizes.large_size
            while left:
                n = min(left, GEN_BLOCK)
                f.write(os.urandom(n))
                left -= n
        paths.append(p)
    return paths


def gen_files(
    dest: Path, count: int, dirs: int, lo: int, hi: int, rnd: random.Random, dir_digits: int = 2
) -> list[Path]:
    """``count`` files of ``lo``-``hi`` random bytes spread over ``dirs`` directories (shared by bench.py)."""
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


def gen_small(dest: Path, sizes: Sizes, rnd: random.Random) -> list[Path]:
    return gen_files(dest, sizes.small_count, sizes.small_dirs, sizes.small_min, sizes.small_max, rnd)


def gen_big(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, GEN_BLOCK)
            f.write(os.urandom(n))
            left -= n


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


class RequestCounter:
    """A botocore ``before-send`` hook counting every HTTP request (retries included)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, **kwargs: Any) -> None:
        with self._lock:
            self.count += 1


# ----- ingest ------------------------------------------------------------------------


@dataclass(slots=True)
class Ingest:
    seconds: float
    root: str
    files: int
    bytes_written: int
    objects_written: int


def ingest(store: ObjectStore, src: Path, base: str | None = None) -> Ingest:
    """Time the whole write batch, close included."""
    t0 = time.perf_counter()
    with store.writer() as w:
        root = w.put_dir(src, base=base)
    seconds = time.perf_counter() - t0
    s = w.stats
    return Ingest(seconds, root, s.files, s.bytes_written, s.objects_written)


def raw_copy(paths: list[Path], dest: Path) -> float:
    """The local reference: read each file, write a new file, fsync, close."""
    dest.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            data = f.readall()
        with open(dest / p.name, "wb", buffering=0) as out:
            out.write(data)
            os.fsync(out.fileno())
    return time.perf_counter() - t0


def raw_put(client: Any, paths: list[Path], prefix: str) -> float:
    """The S3 reference: each file as one put_object."""
    t0 = time.perf_counter()
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            data = f.readall()
        client.put_object(Bucket=BUCKET, Key=f"{prefix}{p.name}", Body=data)
    return time.perf_counter() - t0


def mib_s(nbytes: int, seconds: float) -> float:
    return nbytes / MiB / seconds


# ----- workloads ---------------------------------------------------------------------


def bench_large_local(work: Path, large_dir: Path, paths: list[Path], reps: int) -> Row:
    total = sum(p.stat().st_size for p in paths)
    read_all(paths)  # page cache: both the reference and the store read cached sources
    sync()
    raw_times: list[float] = []
    store_times: list[float] = []
    last: Ingest | None = None
    for rep in range(reps):
        copy_dir = work / "rawcopy"
        raw_times.append(raw_copy(paths, copy_dir))
        rmtree(copy_dir)
        sync()
        store_dir = work / f"store-a-local-{rep}"
        store = ObjectStore.init(str(store_dir))
        last = ingest(store, large_dir)
        store_times.append(last.seconds)
        if rep == 0:
            verify_readback(store, last.root, large_dir, len(paths), 3, SEED)
        store.close()
        rmtree(store_dir)
        sync()
        log(f"(a) local rep {rep}: raw copy {raw_times[-1]:.2f}s, store {store_times[-1]:.2f}s")
    assert last is not None
    ref, val = mib_s(total, min(raw_times)), mib_s(total, min(store_times))
    ratio = val / ref
    return Row(
        "(a) large files → local",
        "ingest",
        val,
        "MiB/s",
        ref,
        "raw read+write+fsync copy",
        ratio,
        "≥ 0.70x ref",
        ratio >= 0.7,
        {
            "bytes": total,
            "store_seconds": store_times,
            "raw_seconds": raw_times,
            "objects_written": last.objects_written,
        },
    )


def bench_large_s3(client: Any, large_dir: Path, paths: list[Path], reps: int) -> Row:
    total = sum(p.stat().st_size for p in paths)
    read_all(paths)
    raw_times: list[float] = []
    store_times: list[float] = []
    requests: list[int] = []
    for rep in range(reps):
        raw_times.append(raw_put(client, paths, "raw-a/"))
        empty_prefix(client, "raw-a/")
        prefix = f"store-a-{rep}"
        store = ObjectStore.init(f"s3://{BUCKET}/{prefix}")
        backend = store.backend
        assert isinstance(backend, S3Backend)
        counter = RequestCounter()
        backend.raw_client.meta.events.register("before-send.s3", counter)
        res = ingest(store, large_dir)
        store_times.append(res.seconds)
        requests.append(counter.count)
        if rep == 0:
            verify_readback(store, res.root, large_dir, len(paths), 2, SEED)
        store.close()
        empty_prefix(client, prefix + "/")
        log(
            f"(a) S3 rep {rep}: raw put {raw_times[-1]:.2f}s, store {store_times[-1]:.2f}s, "
            f"{requests[-1]} requests"
        )
    ref, val = mib_s(total, min(raw_times)), mib_s(total, min(store_times))
    ratio = val / ref
    return Row(
        "(a) large files → S3",
        "ingest",
        val,
        "MiB/s",
        ref,
        "raw put_object per file",
        ratio,
        "≥ 0.80x ref",
        ratio >= 0.8,
        {"bytes": total, "store_seconds": store_times, "raw_seconds": raw_times, "requests": requests},
    )


def raw_read_files(paths: list[Path]) -> float:
    """The small-file reference: open and read every file (files/s)."""
    t0 = time.perf_counter()
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            f.readall()
    return len(paths) / (time.perf_counter() - t0)


def bench_small(work: Path, client: Any, small_dir: Path, paths: list[Path], reps: int) -> list[Row]:
    n = len(paths)
    read_all(paths)
    sync()
    raw_rates: list[float] = []
    local_times: list[float] = []
    for rep in range(reps):
        raw_rates.append(raw_read_files(paths))
        store_dir = work / f"store-b-local-{rep}"
        store = ObjectStore.init(str(store_dir))
        res = ingest(store, small_dir)
        local_times.append(res.seconds)
        check(res.files == n, f"local small ingest counted {res.files} files, expected {n}")
        if rep == 0:
            verify_readback(store, res.root, small_dir, n, 25, SEED)
        store.close()
        rmtree(store_dir)
        sync()
        log(f"(b) local rep {rep}: raw read {raw_rates[-1]:,.0f} files/s, store {res.seconds:.2f}s")
    raw_rate = max(raw_rates)
    local_rate = n / min(local_times)

    s3_times: list[float] = []
    requests: list[int] = []
    for rep in range(reps):
        prefix = f"store-b-{rep}"
        store = ObjectStore.init(f"s3://{BUCKET}/{prefix}")
        backend = store.backend
        assert isinstance(backend, S3Backend)
        counter = RequestCounter()
        backend.raw_client.meta.events.register("before-send.s3", counter)
        res = ingest(store, small_dir)
        s3_times.append(res.seconds)
        requests.append(counter.count)
        check(res.files == n, f"S3 small ingest counted {res.files} files, expected {n}")
        if rep == 0:
            verify_readback(store, res.root, small_dir, n, 25, SEED)
        store.close()
        empty_prefix(client, prefix + "/")
        log(f"(b) S3 rep {rep}: store {res.seconds:.2f}s, {requests[-1]} requests")
    s3_rate = n / min(s3_times)
    per100 = max(requests) * 100 / n
    return [
        Row(
            "(b) small files → local",
            "ingest",
            local_rate,
            "files/s",
            raw_rate,
            "raw os read of every file",
            local_rate / raw_rate,
            "≥ 10,000 files/s",
            local_rate >= 10_000,
            {"files": n, "store_seconds": local_times, "raw_files_per_s": raw_rates},
        ),
        Row(
            "(b) small files → S3",
            "ingest",
            s3_rate,
            "files/s",
            raw_rate,
            "raw os read of every file",
            s3_rate / raw_rate,
            "≥ 5,000 files/s",
            s3_rate >= 5_000,
            {"files": n, "store_seconds": s3_times},
        ),
        Row(
            "(b) small files → S3",
            f"requests / 100 files ({max(requests)} for {n:,})",
            per100,
            "req",
            100.0,
            "naive: 1 PUT per file",
            per100 / 100.0,
            "≤ 1 per 100 files",
            per100 <= 1.0,
            {"requests": requests, "files": n},
        ),
    ]


def bench_dedup(
    work: Path, dataset: Path, large: list[Path], small: list[Path], sizes: Sizes, rnd: random.Random
) -> Row:
    store_dir = work / "store-c"
    store = ObjectStore.init(str(store_dir))
    objects = store_dir / "objects"
    v1 = ingest(store, dataset)
    n_files = len(large) + len(small)
    check(v1.files == n_files, f"v1 ingest counted {v1.files} files, expected {n_files}")
    before = tree_size(objects)

    changed = 0
    rewritten = rnd.sample(small, sizes.changed_small)
    for p in rewritten:
        data = rnd.randbytes(rnd.randint(sizes.small_min, sizes.small_max))
        p.write_bytes(data)
        changed += len(data)
    appended = rnd.sample(large, sizes.appended_large)
    for p in appended:
        with open(p, "ab") as f:
            f.write(rnd.randbytes(sizes.append_bytes))
        changed += sizes.append_bytes
    sync()

    v2 = ingest(store, dataset, base=v1.root)
    after = tree_size(objects)
    new = after - before
    log(f"(c) v1 {v1.seconds:.2f}s, v2 {v2.seconds:.2f}s, new bytes {new:,}, changed {changed:,}")

    entries = dict(store.walk(v2.root))
    check(len(entries) == n_files, f"walk(v2) found {len(entries)} files, expected {n_files}")
    check(v1.root != v2.root, "v2 has the same root as v1")
    for p in [*rewritten[:10], *appended]:
        rel = p.relative_to(dataset).as_posix()
        check(store.read_bytes(entries[rel]) == p.read_bytes(), f"v2 {rel}: content read back differs")
    changed_paths = {p.relative_to(dataset).as_posix() for p in [*rewritten, *appended]}
    diff_paths = {d.path for d in store.diff(v1.root, v2.root)}
    check(
        diff_paths == changed_paths,
        f"diff(v1, v2) has {len(diff_paths)} paths, expected {len(changed_paths)}",
    )
    store.close()
    rmtree(store_dir)
    sync()
    return Row(
        "(c) dedup, v2 with base=v1",
        "new bytes stored by v2",
        new / MiB,
        "MiB",
        changed / MiB,
        "bytes changed",
        new / changed,
        "≤ 10 MiB",
        new <= 10 * MiB,
        {
            "new_bytes": new,
            "changed_bytes": changed,
            "v2_bytes_written": v2.bytes_written,
            "v2_objects_written": v2.objects_written,
            "v1_seconds": v1.seconds,
            "v2_seconds": v2.seconds,
        },
    )


_CHILD_INGEST = """
import json, sys
from storage.store import ObjectStore
store = ObjectStore.init(sys.argv[1])
with store.writer() as w:
    e = w.put_file(sys.argv[2])
store.close()
print(json.dumps({"size": e.size, "hash": e.hash, "refs": [[r.oid, r.offset, r.length] for r in e.refs]}))
"""

_CHILD_BASELINE = """
import storage.store, storage.writer, storage.backends.local
print("{}")
"""


# A fork of this (large) benchmark process would start with this process's peak RSS: Linux
# keeps ru_maxrss across exec, so a directly spawned child can never report less than the
# parent's size at fork time. A small launcher starts the measured child instead and
# reports that child's own peak RSS from os.wait4 as the last line of its output.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_pid, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
sys.stdout.flush()
print(usage.ru_maxrss, flush=True)
sys.exit(proc.returncode)
"""


def run_child(code: str, *args: str) -> tuple[dict[str, Any], int, float]:
    """Run ``python -c code args`` (via the launcher); returns its JSON output, peak RSS (KiB), seconds."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise BenchError(f"child process failed with exit code {proc.returncode}")
    *out, rss = proc.stdout.decode().strip().splitlines()
    return json.loads(out[-1]), int(rss), seconds


def bench_rss(work: Path, sizes: Sizes) -> Row:
    big = work / "big" / "big.bin"
    log(f"(d) writing a {sizes.big_size / MiB:,.0f} MiB file")
    gen_big(big, sizes.big_size)
    sync()
    _, base_kib, _ = run_child(_CHILD_BASELINE)
    store_dir = work / "store-d"
    doc, peak_kib, seconds = run_child(_CHILD_INGEST, str(store_dir), str(big))
    log(
        f"(d) ingest child: {seconds:.2f}s, peak RSS {peak_kib / KiB:.0f} MiB "
        f"(baseline {base_kib / KiB:.0f} MiB)"
    )

    # Correctness: whole-file hash, size, and a few ranges read back through the store.
    check(doc["size"] == sizes.big_size, f"big file stored as {doc['size']} bytes, expected {sizes.big_size}")
    h = xxhash.xxh3_128()
    with open(big, "rb", buffering=0) as f:
        while block := f.read(GEN_BLOCK):
            h.update(block)
    check(doc["hash"] == h.hexdigest(), "big file hash differs from the file's xxh3-128")
    store = ObjectStore.open(str(store_dir))
    entry = Entry("big.bin", "file", doc["size"], doc["hash"], tuple(DataRef(*r) for r in doc["refs"]))
    with open(big, "rb") as f:
        for start in (0, sizes.big_size // 3, sizes.big_size - 3 * MiB):
            f.seek(start)
            check(store.read_bytes(entry, start, 3 * MiB) == f.read(3 * MiB), f"range at {start} differs")
    store.close()
    rmtree(store_dir)
    big.unlink()
    peak, base = peak_kib / KiB, base_kib / KiB
    return Row(
        f"(d) one {sizes.big_size / GiB:g} GiB file → local",
        "peak RSS of the ingest child",
        peak,
        "MiB",
        base,
        "child that only imports storage",
        peak / base,
        "≤ 200 MiB",
        peak <= 200,
        {"peak_kib": peak_kib, "baseline_kib": base_kib, "seconds": seconds, "refs": len(doc["refs"])},
    )


# ----- output ------------------------------------------------------------------------


def fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "-"
    if unit == "files/s" or abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:,.1f}"
    return f"{x:,.2f}"


def print_table(rows: list[Row], title: str, caption: str) -> None:
    console = Console(width=None if sys.stdout.isatty() else 170, highlight=False)
    table = Table(title=title, caption=caption, caption_justify="left")
    table.add_column("workload")
    table.add_column("measure")
    table.add_column("store", justify="right")
    table.add_column("reference", justify="right")
    table.add_column("reference is")
    table.add_column("ratio", justify="right")
    table.add_column("target")
    table.add_column("met")
    for r in rows:
        met = "-" if r.ok is None else ("yes" if r.ok else "NO")
        table.add_row(
            r.workload,
            r.metric,
            f"{fmt(r.value, r.unit)} {r.unit}",
            f"{fmt(r.reference, r.unit)} {r.unit}",
            r.ref_label,
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            r.target,
            met,
        )
    console.print(table)


# ----- main --------------------------------------------------------------------------


def run(work: Path, sizes: Sizes, reps: int) -> list[Row]:
    dataset = work / "dataset"
    large_dir, small_dir = dataset / "large", dataset / "small"
    rnd = random.Random(SEED)
    log(
        f"generating {sizes.large_count} x {sizes.large_size / MiB:g} MiB "
        f"and {sizes.small_count:,} small files"
    )
    large = gen_large(large_dir, sizes)
    small = gen_small(small_dir, sizes, rnd)
    sync()
    rows: list[Row] = []
    with moto_server(work / "moto.log") as endpoint:
        s3_env(endpoint)
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        rows.append(bench_large_local(work, large_dir, large, reps))
        rows.append(bench_large_s3(client, large_dir, large, reps))
        rows.extend(bench_small(work, client, small_dir, small, reps))
        client.close()
    rows.append(bench_dedup(work, dataset, large, small, sizes, rnd))
    rmtree(dataset)
    rows.append(bench_rss(work, sizes))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--workdir", type=Path, help="where to put data and stores (default: a temp dir in /tmp)"
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--reps", type=int, default=2, help="runs per throughput measurement; best is kept")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="bench-storage-", dir=args.workdir))
    else:
        work = Path(tempfile.mkdtemp(prefix="bench-storage-", dir="/tmp"))
    t0 = time.perf_counter()
    try:
        rows = run(work, sizes, max(1, args.reps))
    except BenchError as err:
        print(f"bench_storage: {err}", file=sys.stderr)
        return 1
    finally:
        rmtree(work)
    elapsed = time.perf_counter() - t0
    mode = "quick" if args.quick else "full"
    title = (
        f"datavc storage benchmark ({mode}: {sizes.large_count}x{sizes.large_size / MiB:g} MiB, "
        f"{sizes.small_count:,} small files in {sizes.small_dirs} dirs, "
        f"{sizes.big_size / MiB:,.0f} MiB for RSS)"
    )
    caption = (
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; S3 = moto server on localhost; "
        f"throughput = best of {max(1, args.reps)} alternating runs, ratio = store / reference; "
        f"MiB = 2^20 bytes; wall time {elapsed:.0f}s"
    )
    print_table(rows, title, caption)
    if args.json:
        doc = {"mode": mode, "sizes": asdict(sizes), "elapsed_s": elapsed, "rows": [asdict(r) for r in rows]}
        print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
