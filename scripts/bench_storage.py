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
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import benchlib as bl
import boto3
import xxhash

from storage.backends.s3 import S3Backend
from storage.model import DataRef, Entry
from storage.store import ObjectStore


@dataclass(frozen=True, slots=True)
class Sizes:
    large_count: int
    large_size: int
    small_count: int
    small_dirs: int
    big_size: int
    changed_small: int
    appended_large: int = 2
    append_bytes: int = 1 * bl.MiB
    small_min: int = 1 * bl.KiB
    small_max: int = 8 * bl.KiB


FULL = Sizes(20, 50 * bl.MiB, 20_000, 100, 2 * bl.GiB, 200)
QUICK = Sizes(4, 8 * bl.MiB, 2_000, 20, 256 * bl.MiB, 20)


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


# ----- helpers -----------------------------------------------------------------------


def tree_size(path: Path) -> int:
    """Total apparent size of the regular files below ``path``."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def verify_readback(store: ObjectStore, root: str, src: Path, expected: int, sample: int, seed: int) -> None:
    """``store.walk(root)`` has ``expected`` files; ``sample`` of them read back equal to ``src``."""
    entries = list(store.walk(root))
    bl.check(len(entries) == expected, f"walk found {len(entries)} files, expected {expected}")
    rnd = random.Random(seed)
    picks = rnd.sample(entries, min(sample, len(entries)))
    for rel, entry in picks:
        want = (src / rel).read_bytes()
        bl.check(entry.size == len(want), f"{rel}: size {entry.size} != {len(want)}")
        bl.check(store.read_bytes(entry) == want, f"{rel}: content read back differs from the source")


# ----- data --------------------------------------------------------------------------


def gen_large(dest: Path, sizes: Sizes) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(sizes.large_count):
        p = dest / f"f{i:03d}.bin"
        bl.write_random(p, sizes.large_size)
        paths.append(p)
    return paths


def gen_small(dest: Path, sizes: Sizes, rnd: random.Random) -> list[Path]:
    return bl.gen_files(dest, sizes.small_count, sizes.small_dirs, sizes.small_min, sizes.small_max, rnd)


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


def s3_store(prefix: str) -> tuple[ObjectStore, bl.RequestCounter]:
    """A new store under ``prefix`` in the bench bucket, with a counter of its HTTP requests."""
    store = ObjectStore.init(f"s3://{bl.BUCKET}/{prefix}")
    backend = store.backend
    assert isinstance(backend, S3Backend)
    counter = bl.RequestCounter()
    backend.raw_client.meta.events.register("before-send.s3", counter)
    return store, counter


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


# ----- workloads ---------------------------------------------------------------------


def throughput_row(
    workload: str,
    total: int,
    raw_times: list[float],
    store_times: list[float],
    ref_label: str,
    target_x: float,
    **details: Any,
) -> Row:
    """An ingest MiB/s row: the best store run against the best reference run."""
    ref, val = bl.mib_s(total, min(raw_times)), bl.mib_s(total, min(store_times))
    ratio = val / ref
    return Row(
        workload,
        "ingest",
        val,
        "MiB/s",
        ref,
        ref_label,
        ratio,
        f"≥ {target_x:.2f}x ref",
        ratio >= target_x,
        {"bytes": total, "store_seconds": store_times, "raw_seconds": raw_times, **details},
    )


def bench_large_local(work: Path, large_dir: Path, paths: list[Path], reps: int) -> Row:
    total = sum(p.stat().st_size for p in paths)
    bl.read_all(paths)  # page cache: both the reference and the store read cached sources
    bl.sync()
    raw_times: list[float] = []
    store_times: list[float] = []
    last: Ingest | None = None
    for rep in range(reps):
        copy_dir = work / "rawcopy"
        raw_times.append(raw_copy(paths, copy_dir))
        bl.rmtree(copy_dir)
        bl.sync()
        store_dir = work / f"store-a-local-{rep}"
        store = ObjectStore.init(str(store_dir))
        last = ingest(store, large_dir)
        store_times.append(last.seconds)
        if rep == 0:
            verify_readback(store, last.root, large_dir, len(paths), 3, bl.SEED)
        store.close()
        bl.rmtree(store_dir)
        bl.sync()
        bl.log(f"(a) local rep {rep}: raw copy {raw_times[-1]:.2f}s, store {store_times[-1]:.2f}s")
    assert last is not None
    return throughput_row(
        "(a) large files → local",
        total,
        raw_times,
        store_times,
        "raw read+write+fsync copy",
        0.7,
        objects_written=last.objects_written,
    )


def bench_large_s3(client: Any, large_dir: Path, paths: list[Path], reps: int) -> Row:
    total = sum(p.stat().st_size for p in paths)
    bl.read_all(paths)
    raw_times: list[float] = []
    store_times: list[float] = []
    requests: list[int] = []
    for rep in range(reps):
        raw_times.append(bl.raw_put(client, paths, "raw-a/"))
        bl.empty_prefix(client, "raw-a/")
        prefix = f"store-a-{rep}"
        store, counter = s3_store(prefix)
        res = ingest(store, large_dir)
        store_times.append(res.seconds)
        requests.append(counter.count)
        if rep == 0:
            verify_readback(store, res.root, large_dir, len(paths), 2, bl.SEED)
        store.close()
        bl.empty_prefix(client, prefix + "/")
        bl.log(
            f"(a) S3 rep {rep}: raw put {raw_times[-1]:.2f}s, store {store_times[-1]:.2f}s, "
            f"{requests[-1]} requests"
        )
    return throughput_row(
        "(a) large files → S3",
        total,
        raw_times,
        store_times,
        "raw put_object per file",
        0.8,
        requests=requests,
    )


def raw_read_files(paths: list[Path]) -> float:
    """The small-file reference: open and read every file (files/s)."""
    t0 = time.perf_counter()
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            f.readall()
    return len(paths) / (time.perf_counter() - t0)


def bench_small_local(work: Path, small_dir: Path, paths: list[Path], reps: int) -> Row:
    """Small files into the local backend; the reference (raw reads, files/s) is the row's."""
    n = len(paths)
    bl.read_all(paths)
    bl.sync()
    raw_rates: list[float] = []
    local_times: list[float] = []
    for rep in range(reps):
        raw_rates.append(raw_read_files(paths))
        store_dir = work / f"store-b-local-{rep}"
        store = ObjectStore.init(str(store_dir))
        res = ingest(store, small_dir)
        local_times.append(res.seconds)
        bl.check(res.files == n, f"local small ingest counted {res.files} files, expected {n}")
        if rep == 0:
            verify_readback(store, res.root, small_dir, n, 25, bl.SEED)
        store.close()
        bl.rmtree(store_dir)
        bl.sync()
        bl.log(f"(b) local rep {rep}: raw read {raw_rates[-1]:,.0f} files/s, store {res.seconds:.2f}s")
    raw_rate = max(raw_rates)
    local_rate = n / min(local_times)
    return Row(
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
    )


def bench_small_s3(client: Any, small_dir: Path, paths: list[Path], reps: int, raw_rate: float) -> list[Row]:
    """Small files into S3: files/s (against ``raw_rate``, raw reads) and requests per 100 files."""
    n = len(paths)
    s3_times: list[float] = []
    requests: list[int] = []
    for rep in range(reps):
        prefix = f"store-b-{rep}"
        store, counter = s3_store(prefix)
        res = ingest(store, small_dir)
        s3_times.append(res.seconds)
        requests.append(counter.count)
        bl.check(res.files == n, f"S3 small ingest counted {res.files} files, expected {n}")
        if rep == 0:
            verify_readback(store, res.root, small_dir, n, 25, bl.SEED)
        store.close()
        bl.empty_prefix(client, prefix + "/")
        bl.log(f"(b) S3 rep {rep}: store {res.seconds:.2f}s, {requests[-1]} requests")
    s3_rate = n / min(s3_times)
    per100 = max(requests) * 100 / n
    return [
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
    bl.check(v1.files == n_files, f"v1 ingest counted {v1.files} files, expected {n_files}")
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
    bl.sync()

    v2 = ingest(store, dataset, base=v1.root)
    after = tree_size(objects)
    new = after - before
    bl.log(f"(c) v1 {v1.seconds:.2f}s, v2 {v2.seconds:.2f}s, new bytes {new:,}, changed {changed:,}")

    entries = dict(store.walk(v2.root))
    bl.check(len(entries) == n_files, f"walk(v2) found {len(entries)} files, expected {n_files}")
    bl.check(v1.root != v2.root, "v2 has the same root as v1")
    for p in [*rewritten[:10], *appended]:
        rel = p.relative_to(dataset).as_posix()
        bl.check(store.read_bytes(entries[rel]) == p.read_bytes(), f"v2 {rel}: content read back differs")
    changed_paths = {p.relative_to(dataset).as_posix() for p in [*rewritten, *appended]}
    diff_paths = {d.path for d in store.diff(v1.root, v2.root)}
    bl.check(
        diff_paths == changed_paths,
        f"diff(v1, v2) has {len(diff_paths)} paths, expected {len(changed_paths)}",
    )
    store.close()
    bl.rmtree(store_dir)
    bl.sync()
    return Row(
        "(c) dedup, v2 with base=v1",
        "new bytes stored by v2",
        new / bl.MiB,
        "MiB",
        changed / bl.MiB,
        "bytes changed",
        new / changed,
        "≤ 10 MiB",
        new <= 10 * bl.MiB,
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
    env = dict(os.environ, PYTHONPATH=str(bl.REPO))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise bl.BenchError(f"child process failed with exit code {proc.returncode}")
    *out, rss = proc.stdout.decode().strip().splitlines()
    return json.loads(out[-1]), int(rss), seconds


def bench_rss(work: Path, sizes: Sizes) -> Row:
    big = work / "big" / "big.bin"
    bl.log(f"(d) writing a {sizes.big_size / bl.MiB:,.0f} MiB file")
    bl.write_random(big, sizes.big_size)
    bl.sync()
    _, base_kib, _ = run_child(_CHILD_BASELINE)
    store_dir = work / "store-d"
    doc, peak_kib, seconds = run_child(_CHILD_INGEST, str(store_dir), str(big))
    bl.log(
        f"(d) ingest child: {seconds:.2f}s, peak RSS {peak_kib / bl.KiB:.0f} MiB "
        f"(baseline {base_kib / bl.KiB:.0f} MiB)"
    )

    # Correctness: whole-file hash, size, and a few ranges read back through the store.
    bl.check(
        doc["size"] == sizes.big_size, f"big file stored as {doc['size']} bytes, expected {sizes.big_size}"
    )
    h = xxhash.xxh3_128()
    with open(big, "rb", buffering=0) as f:
        while block := f.read(bl.GEN_BLOCK):
            h.update(block)
    bl.check(doc["hash"] == h.hexdigest(), "big file hash differs from the file's xxh3-128")
    store = ObjectStore.open(str(store_dir))
    entry = Entry("big.bin", "file", doc["size"], doc["hash"], tuple(DataRef(*r) for r in doc["refs"]))
    with open(big, "rb") as f:
        for start in (0, sizes.big_size // 3, sizes.big_size - 3 * bl.MiB):
            f.seek(start)
            bl.check(
                store.read_bytes(entry, start, 3 * bl.MiB) == f.read(3 * bl.MiB), f"range at {start} differs"
            )
    store.close()
    bl.rmtree(store_dir)
    big.unlink()
    peak, base = peak_kib / bl.KiB, base_kib / bl.KiB
    return Row(
        f"(d) one {sizes.big_size / bl.GiB:g} GiB file → local",
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


def print_rows(rows: list[Row], title: str, caption: str) -> None:
    bl.print_table(
        title,
        caption,
        [
            ("workload", False),
            ("measure", False),
            ("store", True),
            ("reference", True),
            ("reference is", False),
            ("ratio", True),
            ("target", False),
            ("met", False),
        ],
        [
            [
                r.workload,
                r.metric,
                f"{bl.fmt(r.value, r.unit)} {r.unit}",
                f"{bl.fmt(r.reference, r.unit)} {r.unit}",
                r.ref_label,
                "-" if r.ratio is None else f"{r.ratio:.2f}x",
                r.target,
                "-" if r.ok is None else ("yes" if r.ok else "NO"),
            ]
            for r in rows
        ],
        width=170,
    )


# ----- main --------------------------------------------------------------------------


def run(work: Path, sizes: Sizes, reps: int) -> list[Row]:
    dataset = work / "dataset"
    large_dir, small_dir = dataset / "large", dataset / "small"
    rnd = random.Random(bl.SEED)
    bl.log(
        f"generating {sizes.large_count} x {sizes.large_size / bl.MiB:g} MiB "
        f"and {sizes.small_count:,} small files"
    )
    large = gen_large(large_dir, sizes)
    small = gen_small(small_dir, sizes, rnd)
    bl.sync()
    rows: list[Row] = []
    with bl.moto_server(work / "moto.log") as endpoint:
        bl.s3_env(endpoint)
        client = boto3.client("s3")
        client.create_bucket(Bucket=bl.BUCKET)
        rows.append(bench_large_local(work, large_dir, large, reps))
        rows.append(bench_large_s3(client, large_dir, large, reps))
        small_local = bench_small_local(work, small_dir, small, reps)
        assert small_local.reference is not None
        rows.append(small_local)
        rows.extend(bench_small_s3(client, small_dir, small, reps, small_local.reference))
        client.close()
    rows.append(bench_dedup(work, dataset, large, small, sizes, rnd))
    bl.rmtree(dataset)
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
    except bl.BenchError as err:
        print(f"bench_storage: {err}", file=sys.stderr)
        return 1
    finally:
        bl.rmtree(work)
    elapsed = time.perf_counter() - t0
    mode = "quick" if args.quick else "full"
    title = (
        f"datavc storage benchmark ({mode}: {sizes.large_count}x{sizes.large_size / bl.MiB:g} MiB, "
        f"{sizes.small_count:,} small files in {sizes.small_dirs} dirs, "
        f"{sizes.big_size / bl.MiB:,.0f} MiB for RSS)"
    )
    caption = (
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; S3 = moto server on localhost; "
        f"throughput = best of {max(1, args.reps)} alternating runs, ratio = store / reference; "
        f"MiB = 2^20 bytes; wall time {elapsed:.0f}s"
    )
    print_rows(rows, title, caption)
    if args.json:
        doc = {"mode": mode, "sizes": asdict(sizes), "elapsed_s": elapsed, "rows": [asdict(r) for r in rows]}
        print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
