#!/usr/bin/env python3
"""Benchmark datavc against DVC, side by side, on the same seeded datasets in one run.

Datasets: A = 20,000 files of 1-8 KiB in 100 dirs (``random.Random(42)``); B = 20 files
of 50 MiB. Version 2 of each: 1% of A's files rewritten, 1 MiB appended to 2 of B's files.

Steps, each timed for both tools (S3 = one moto server started here, shared by both):

1. A v1 into a local store        datavc ``put_file`` (embedded store)  vs ``dvc add``
2. A v1 into S3                   datavc ``put_file`` (objects on S3)   vs ``dvc add`` + ``dvc push``
3. A v2 into S3                   datavc ``put_file`` of the directory  vs ``dvc add`` + ``dvc push``
4. rollback of a checkout to v1   datavc ``checkout`` (existing wc)     vs ``git checkout``+``dvc checkout``
5. fresh download of v2 from S3   datavc ``checkout`` (empty cache)     vs ``git clone`` + ``dvc pull``
6. bytes / objects in the bucket after two versions.

B: v1 into S3 vs one raw boto3 ``put_object`` per file (and vs DVC add+push), and the
new bytes stored by v2. Scale (datavc only): a 200,000-file repo; commit of one changed
file, diff of two commits 10 files apart, ``ls -r`` entries/s (API and CLI), rollback.

``--with-dvc`` installs DVC (``dvc[s3]``) into ``<workdir or ~/.cache/datavc-bench>/dvc-venv``
(reused when present); without it the DVC column says n/a. ``--quick`` for a smoke run,
``--json`` to also print the results as JSON. Exits 1 if a correctness check fails;
missed targets are reported in the table (exit status 0).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3
from bench_storage import (
    BenchError,
    check,
    empty_prefix,
    gen_files,
    log,
    moto_server,
    read_all,
    rmtree,
    s3_env,
    sync,
)
from rich.console import Console
from rich.table import Table

from datavc.client import Client

KiB = 1024
MiB = 1024 * KiB
BUCKET = "bench"  # bench_storage.empty_prefix works on this bucket name
SEED = 42
DVC_TIMEOUT = 1800


@dataclass(frozen=True, slots=True)
class Sizes:
    a_files: int
    a_dirs: int
    b_count: int
    b_size: int
    scale_files: int
    scale_dirs: int
    a_changed_pct: float = 1.0
    b_appended: int = 2
    b_append: int = 1 * MiB
    a_min: int = 1 * KiB
    a_max: int = 8 * KiB


FULL = Sizes(20_000, 100, 20, 50 * MiB, 200_000, 1_000)
QUICK = Sizes(2_000, 20, 4, 8 * MiB, 20_000, 100)


@dataclass(slots=True)
class Row:
    """One line of the table: datavc's figure, the reference beside it, their ratio and the target."""

    step: str
    measure: str
    unit: str
    datavc: float | None
    ref: float | None
    ref_label: str  # "DVC", "raw put_object", ...
    ratio: float | None
    ratio_text: str
    target: str
    ok: bool | None
    ref_note: str = ""  # shown instead of the reference figure when there is none (n/a ...)
    details: dict[str, Any] = field(default_factory=dict)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


# ----- data --------------------------------------------------------------------------


def _cli_na(label: str, note: str) -> Row:
    """The CLI ls -r row when the CLI could not be measured."""
    return Row(f"scale {label}", "ls -r (CLI)", "", None, None, "", None, "-", "≥ 100,000/s", None, note)


def gen_a(dest: Path, sizes: Sizes) -> list[Path]:
    """Dataset A: many small files in ``a_dirs`` directories, from ``random.Random(42)``."""
    rnd = random.Random(SEED)
    return gen_files(dest, sizes.a_files, sizes.a_dirs, sizes.a_min, sizes.a_max, rnd, dir_digits=3)


def gen_b(dest: Path, sizes: Sizes) -> list[Path]:
    """Dataset B: a few large random files (seeded, written in 8 MiB blocks)."""
    rnd = random.Random(SEED + 1)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(sizes.b_count):
        p = dest / f"b{i:03d}.bin"
        with open(p, "wb") as f:
            left = sizes.b_size
            while left:
                n = min(left, 8 * MiB)
                f.write(rnd.randbytes(n))
                left -= n
        paths.append(p)
    return paths


def a_v2_changes(src: Path, files: list[Path], sizes: Sizes) -> dict[str, bytes]:
    """1% of A's files (relative path -> new content), seeded."""
    rnd = random.Random(SEED + 2)
    k = max(1, round(len(files) * sizes.a_changed_pct / 100))
    picks = sorted(rnd.sample(files, k))
    return {
        p.relative_to(src).as_posix(): rnd.randbytes(rnd.randint(sizes.a_min, sizes.a_max)) for p in picks
    }


def b_v2_changes(src: Path, files: list[Path], sizes: Sizes) -> dict[str, bytes]:
    """2 of B's files (relative path -> bytes to append), seeded."""
    rnd = random.Random(SEED + 3)
    picks = sorted(rnd.sample(files, sizes.b_appended))
    return {p.relative_to(src).as_posix(): rnd.randbytes(sizes.b_append) for p in picks}


def apply_rewrite(roots: list[Path], changes: dict[str, bytes]) -> None:
    for root in roots:
        for rel, data in changes.items():
            (root / rel).write_bytes(data)


def apply_append(roots: list[Path], changes: dict[str, bytes]) -> None:
    for root in roots:
        for rel, data in changes.items():
            with open(root / rel, "ab") as f:
                f.write(data)


def rel_files(root: Path) -> list[str]:
    """Regular files below ``root`` (relative, sorted), skipping checkout/DVC metadata."""
    out = []
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in (".datavc-checkout", ".dvc", ".git"))
        for n in sorted(names):
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def same_tree(got: Path, want: Path, what: str) -> int:
    """Every file of ``want`` is in ``got`` with equal bytes, and nothing more; returns the count."""
    g, w = rel_files(got), rel_files(want)
    check(g == w, f"{what}: {len(g)} files, expected {len(w)} (first difference: {_first_diff(g, w)})")
    for rel in w:
        check(filecmp.cmp(got / rel, want / rel, shallow=False), f"{what}: /{rel} differs")
    return len(w)


def _first_diff(a: list[str], b: list[str]) -> str:
    sa, sb = set(a), set(b)
    extra, missing = sorted(sa - sb)[:1], sorted(sb - sa)[:1]
    return f"extra {extra}, missing {missing}"


def check_sample(got: Path, expected: dict[str, bytes], what: str) -> None:
    for rel, data in expected.items():
        check((got / rel).read_bytes() == data, f"{what}: /{rel} differs from the expected content")


def bucket_usage(s3: Any, prefix: str) -> tuple[int, int]:
    """(objects, bytes) under ``prefix`` in the bench bucket."""
    n = total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for o in page.get("Contents", []):
            n += 1
            total += o["Size"]
    return n, total


# ----- DVC ---------------------------------------------------------------------------


def ensure_dvc(base: Path) -> tuple[Path | None, str]:
    """DVC in ``base/dvc-venv`` (created and ``pip install 'dvc[s3]'`` if missing): (dvc binary, note)."""
    venv = base / "dvc-venv"
    dvc = venv / "bin" / "dvc"

    def version() -> str | None:
        if not dvc.exists():
            return None
        try:
            r = subprocess.run([str(dvc), "--version"], capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    v = version()
    if v:
        log(f"DVC {v} found in {venv}")
        return dvc, f"DVC {v}"
    base.mkdir(parents=True, exist_ok=True)
    pip_log = base / "dvc-install.log"
    log(f"installing dvc[s3] into {venv} (log: {pip_log}); this takes a few minutes")
    try:
        with open(pip_log, "wb") as lf:
            if not (venv / "bin" / "python").exists():
                subprocess.run(
                    [sys.executable, "-m", "venv", str(venv)], stdout=lf, stderr=subprocess.STDOUT, check=True
                )
            subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "dvc[s3]"],
                stdout=lf,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=1800,
            )
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"DVC install failed ({err}); see {pip_log}"
    v = version()
    if not v:
        return None, f"DVC installed but 'dvc --version' fails; see {pip_log}"
    log(f"DVC {v} installed")
    return dvc, f"DVC {v}"


class DvcRepo:
    """A git + DVC repository in ``root`` with data in ``root/data`` and an S3 remote."""

    def __init__(self, dvc: Path, root: Path, env: dict[str, str], logf: Path) -> None:
        self.dvc = str(dvc)
        self.root = root
        self.env = env
        self.logf = logf

    def run(self, *cmd: str, cwd: Path | None = None) -> float:
        """Run a command; returns its wall time. Raises BenchError with its output on failure."""
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                list(cmd),
                cwd=cwd or self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=DVC_TIMEOUT,
            )
        except subprocess.TimeoutExpired as err:
            raise BenchError(f"{' '.join(cmd)} timed out after {DVC_TIMEOUT}s") from err
        seconds = time.perf_counter() - t0
        with open(self.logf, "ab") as lf:
            lf.write(f"$ {' '.join(cmd)}  # {seconds:.2f}s, rc={proc.returncode}\n".encode())
            lf.write(proc.stdout[-4000:] + proc.stderr[-4000:] + b"\n")
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-3:]
            raise BenchError(f"{' '.join(cmd)} failed ({proc.returncode}): {' / '.join(tail)}")
        return seconds

    def d(self, *args: str, cwd: Path | None = None) -> float:
        return self.run(self.dvc, *args, cwd=cwd)

    def git(self, *args: str, cwd: Path | None = None) -> float:
        return self.run("git", *args, cwd=cwd)

    def init(self, remote: str | None, endpoint: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q")
        self.d("init", "-q")
        self.d("config", "core.analytics", "false")
        if remote:
            self.d("remote", "add", "-d", "s3remote", remote)
            self.d("remote", "modify", "s3remote", "endpointurl", endpoint)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "dvc init")

    def commit(self, msg: str) -> str:
        self.git("add", "data.dvc", ".gitignore")
        self.git("commit", "-q", "-m", msg)
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()


def dvc_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(work / "dvc-site-cache"),
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    return env


# ----- rows --------------------------------------------------------------------------


def speed_row(
    step: str, measure: str, dv: float, ref: float | None, target_x: float, note: str, **details: Any
) -> Row:
    """A 'datavc is N x faster than DVC' row (times in seconds)."""
    if ref is None:
        return Row(
            step, measure, "s", dv, None, "DVC", None, "-", f"≥ {target_x:g}x faster", None, note, details
        )
    ratio = ref / dv
    return Row(
        step,
        measure,
        "s",
        dv,
        ref,
        "DVC",
        ratio,
        f"{ratio:.1f}x faster",
        f"≥ {target_x:g}x faster",
        ratio >= target_x,
        "",
        details,
    )


def info_row(
    step: str, measure: str, unit: str, dv: float, ref: float | None, note: str, **details: Any
) -> Row:
    ratio = dv / ref if ref else None
    return Row(
        step,
        measure,
        unit,
        dv,
        ref,
        "DVC",
        ratio,
        "-" if ratio is None else f"{ratio:.2f}x of DVC",
        "-",
        None,
        note if ref is None else "",
        details,
    )


# ----- dataset A ---------------------------------------------------------------------


def bench_a(work: Path, sizes: Sizes, dvc: Path | None, dvc_note: str, endpoint: str, s3: Any) -> list[Row]:
    src = work / "A"
    log(f"A: generating {sizes.a_files:,} files of 1-8 KiB in {sizes.a_dirs} dirs")
    files = gen_a(src, sizes)
    v1_copy = work / "A-v1"  # pristine v1, to verify rollbacks
    shutil.copytree(src, v1_copy)
    changes = a_v2_changes(src, files, sizes)
    v1_of_changed = {rel: (src / rel).read_bytes() for rel in changes}
    env = dvc_env(work)
    dlog = work / "dvc-commands.log"
    dvc_err: str | None = None if dvc else dvc_note
    rows: list[Row] = []
    t: dict[str, float | None] = {}

    def dvc_step(name: str, fn: Callable[[], float]) -> None:
        nonlocal dvc_err
        t[name] = None
        if dvc_err is not None:
            return
        try:
            t[name] = fn()
            log(f"A: DVC {name}: {t[name]:.2f}s")
        except BenchError as err:
            dvc_err = f"DVC failed at {name}: {err}"
            log(dvc_err)

    # DVC repos get their own copies of the data (untimed).
    dl = ds = None
    if dvc:
        try:
            dl = DvcRepo(dvc, work / "dvc-local", env, dlog)
            dl.init(None, endpoint)
            shutil.copytree(src, dl.root / "data")
            ds = DvcRepo(dvc, work / "dvc-s3", env, dlog)
            ds.init(f"s3://{BUCKET}/dvc", endpoint)
            shutil.copytree(src, ds.root / "data")
        except BenchError as err:
            dvc_err = f"DVC repo setup failed: {err}"
    read_all(files)
    sync()

    # 1. v1 into a local store.
    c1 = Client.init(work / "dv-local")
    c1.create_repo("a")
    secs, info = timed(lambda: c1.put_file("a", "main", "/", src))
    check(info.file_count == len(files), f"local v1 has {info.file_count} files, expected {len(files)}")
    c1.close()
    log(f"A: datavc v1 local: {secs:.2f}s")
    sync()
    dvc_step("add (local)", lambda: dl.d("add", "-q", "data"))  # type: ignore[union-attr]
    if dl is not None:
        rmtree(dl.root)
    rows.append(
        speed_row("A v1 → local", "time: put_file / dvc add", secs, t["add (local)"], 5, dvc_err or "")
    )
    sync()

    # 2. v1 into S3.
    c2 = Client.init(work / "dv-s3", objects=f"s3://{BUCKET}/datavc")
    c2.create_repo("a")
    secs2, v1 = timed(lambda: c2.put_file("a", "main", "/", src))
    check(v1.file_count == len(files), f"S3 v1 has {v1.file_count} files, expected {len(files)}")
    log(f"A: datavc v1 S3: {secs2:.2f}s")
    sync()

    def dvc_v1() -> float:
        assert ds is not None
        s = ds.d("add", "-q", "data") + ds.d("push", "-q")
        ds_sha["v1"] = ds.commit("v1")
        return s

    ds_sha: dict[str, str] = {}
    dvc_step("add+push v1", dvc_v1)
    rows.append(
        speed_row("A v1 → S3", "time: put_file / dvc add+push", secs2, t["add+push v1"], 20, dvc_err or "")
    )

    # 3. v2 (1% rewritten) into S3.
    roots = [src] + ([ds.root / "data"] if ds is not None and dvc_err is None else [])
    apply_rewrite(roots, changes)
    sync()
    secs3, v2 = timed(lambda: c2.put_file("a", "main", "/", src))
    check(v2.file_count == len(files), f"S3 v2 has {v2.file_count} files, expected {len(files)}")
    got = {d.path.lstrip("/") for d in c2.diff("a", v1.id, v2.id)}
    check(got == set(changes), f"diff v1..v2 has {len(got)} paths, expected {len(changes)}")
    log(f"A: datavc v2 S3: {secs3:.2f}s ({len(changes)} files changed)")
    sync()

    def dvc_v2() -> float:
        assert ds is not None
        s = ds.d("add", "-q", "data") + ds.d("push", "-q")
        ds_sha["v2"] = ds.commit("v2")
        return s

    dvc_step("add+push v2", dvc_v2)
    rows.append(
        speed_row(
            "A v2 → S3",
            f"time: put_file / dvc add+push ({len(changes)} files changed)",
            secs3,
            t["add+push v2"],
            5,
            dvc_err or "",
        )
    )

    # 4. Rollback of a working directory to v1.
    wc = work / "wc"
    c2.checkout("a", v2.id, wc)
    check_sample(wc, changes, "checkout of v2")
    sync()
    secs4, co = timed(lambda: c2.checkout("a", v1.id, wc))
    check(
        co.files_written == len(changes),
        f"rollback rewrote {co.files_written} files, expected {len(changes)}",
    )
    check_sample(wc, v1_of_changed, "datavc rollback to v1")
    sample = random.Random(SEED + 4).sample(rel_files(v1_copy), min(200, len(files)))
    check_sample(wc, {r: (v1_copy / r).read_bytes() for r in sample}, "datavc rollback to v1 (sample)")
    log(f"A: datavc rollback: {secs4:.3f}s ({co.files_written} files rewritten)")
    sync()

    def dvc_rollback() -> float:
        assert ds is not None
        s = ds.git("checkout", ds_sha["v1"], "--", "data.dvc") + ds.d("checkout", "-q")
        check_sample(ds.root / "data", v1_of_changed, "DVC rollback to v1")
        return s

    dvc_step("rollback", dvc_rollback)
    rows.append(
        speed_row(
            "A rollback wc → v1",
            "time: checkout / git checkout + dvc checkout",
            secs4,
            t["rollback"],
            3,
            dvc_err or "",
        )
    )

    # 5. Fresh download of v2 into an empty directory, every object from S3.
    fresh_home = work / "dv-fresh" / ".datavc"
    fresh_home.mkdir(parents=True)
    cfg = c2.config
    (fresh_home / "config.json").write_text(
        json.dumps({"version": 1, "db": cfg.db, "objects": cfg.objects, "cache": str(fresh_home / "cache")})
    )
    c2.close()
    out = work / "fresh-datavc"
    v2_src = src

    def fresh() -> Any:
        c3 = Client.open(work / "dv-fresh")
        try:
            return c3.checkout("a", "main", out)
        finally:
            c3.close()

    sync()
    secs5, co5 = timed(fresh)
    check(co5.commit == v2.id, "fresh checkout is not of v2")
    n = same_tree(out, v2_src, "datavc fresh download")
    log(f"A: datavc fresh download: {secs5:.2f}s ({n:,} files verified)")
    rmtree(out)
    sync()

    def dvc_fresh() -> float:
        assert ds is not None
        clone = work / "dvc-fresh"
        s = ds.git("clone", "-q", str(ds.root), str(clone), cwd=work) + ds.d("pull", "-q", cwd=clone)
        same_tree(clone / "data", v2_src, "DVC fresh download")
        rmtree(clone)
        return s

    dvc_step("fresh clone+pull", dvc_fresh)
    rows.append(
        speed_row(
            "A fresh download v2",
            "time: open+checkout (empty cache) / git clone + dvc pull",
            secs5,
            t["fresh clone+pull"],
            10,
            dvc_err or "",
        )
    )

    # 6. Storage after two versions.
    dv_n, dv_b = bucket_usage(s3, "datavc/")
    dvc_n, dvc_b = bucket_usage(s3, "dvc/") if t["add+push v2"] is not None else (None, None)
    rows.append(
        info_row(
            "A storage (2 versions)",
            "bytes in the bucket",
            "MiB",
            dv_b / MiB,
            None if dvc_b is None else dvc_b / MiB,
            dvc_err or "",
            datavc_bytes=dv_b,
            dvc_bytes=dvc_b,
        )
    )
    rows.append(
        info_row("A storage (2 versions)", "objects in the bucket", "objects", dv_n, dvc_n, dvc_err or "")
    )
    rows[0].details.update(
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        changed=len(changes),
        dvc_error=dvc_err,
        dvc_times=t,
    )
    for p in (src, v1_copy, wc, work / "dvc-s3", work / "dv-local"):
        rmtree(p)
    empty_prefix(s3, "dvc/")
    return rows


# ----- dataset B ---------------------------------------------------------------------


def raw_put(s3: Any, paths: list[Path], prefix: str) -> float:
    t0 = time.perf_counter()
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            data = f.readall()
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}{p.name}", Body=data)
    return time.perf_counter() - t0


def bench_b(
    work: Path, sizes: Sizes, dvc: Path | None, dvc_note: str, endpoint: str, s3: Any, reps: int
) -> list[Row]:
    src = work / "B"
    log(f"B: generating {sizes.b_count} x {sizes.b_size / MiB:g} MiB")
    files = gen_b(src, sizes)
    total = sum(p.stat().st_size for p in files)
    changes = b_v2_changes(src, files, sizes)
    env = dvc_env(work)
    dvc_err: str | None = None if dvc else dvc_note
    db = None
    if dvc:
        try:
            db = DvcRepo(dvc, work / "dvc-b", env, work / "dvc-commands.log")
            db.init(f"s3://{BUCKET}/dvc-b", endpoint)
            shutil.copytree(src, db.root / "data")
        except BenchError as err:
            dvc_err = f"DVC repo setup failed: {err}"
    read_all(files)
    sync()

    # v1 into S3: raw put_object vs datavc, alternating, best of ``reps``.
    raw_times: list[float] = []
    dv_times: list[float] = []
    client = None
    prefix = ""
    for rep in range(reps):
        raw_times.append(raw_put(s3, files, "raw-b/"))
        empty_prefix(s3, "raw-b/")
        if client is not None:
            client.close()
            empty_prefix(s3, prefix)
            rmtree(work / "dv-b")
        prefix = f"datavc-b{rep}/"
        sync()
        client = Client.init(work / "dv-b", objects=f"s3://{BUCKET}/{prefix.rstrip('/')}")
        client.create_repo("b")
        secs, v1 = timed(lambda c=client: c.put_file("b", "main", "/", src))
        dv_times.append(secs)
        check(v1.file_count == len(files), f"B v1 has {v1.file_count} files")
        log(f"B v1 rep {rep}: raw put_object {raw_times[-1]:.2f}s, datavc {secs:.2f}s")
    assert client is not None
    for rel in (files[0].name, files[-1].name):
        check(client.get_file("b", "main", "/" + rel) == (src / rel).read_bytes(), f"B v1 /{rel} differs")
    raw, dv = min(raw_times), min(dv_times)
    rows = [
        Row(
            "B v1 → S3",
            f"time ({total / MiB:,.0f} MiB)",
            "s",
            dv,
            raw,
            "raw put_object",
            dv / raw,
            f"{dv / raw:.2f}x raw time",
            "≤ 1.3x raw time",
            dv / raw <= 1.3,
            "",
            {
                "bytes": total,
                "datavc_seconds": dv_times,
                "raw_seconds": raw_times,
                "datavc_MiB_s": total / MiB / dv,
                "raw_MiB_s": total / MiB / raw,
            },
        )
    ]
    dvc_t1 = dvc_t2 = None
    dvc_new = None
    if db is not None and dvc_err is None:
        try:
            sync()
            dvc_t1 = db.d("add", "-q", "data") + db.d("push", "-q")
            db.commit("v1")
            log(f"B: DVC v1 add+push {dvc_t1:.2f}s")
        except BenchError as err:
            dvc_err = f"DVC failed at B v1: {err}"
    rows.append(speed_row("B v1 → S3", "time: put_file / dvc add+push", dv, dvc_t1, 1, dvc_err or ""))
    rows[-1].target = "-"
    rows[-1].ok = None

    # v2: 1 MiB appended to 2 files; new bytes in the bucket.
    _, before = bucket_usage(s3, prefix)
    roots = [src] + ([db.root / "data"] if db is not None and dvc_err is None else [])
    apply_append(roots, changes)
    sync()
    secs2, _ = timed(lambda: client.put_file("b", "main", "/", src))
    _, after = bucket_usage(s3, prefix)
    new = after - before
    for rel in changes:
        check(client.get_file("b", "main", "/" + rel) == (src / rel).read_bytes(), f"B v2 /{rel} differs")
    log(f"B: datavc v2 {secs2:.2f}s, {new / MiB:.2f} MiB new")
    client.close()
    if db is not None and dvc_err is None:
        try:
            _, dbefore = bucket_usage(s3, "dvc-b/")
            sync()
            dvc_t2 = db.d("add", "-q", "data") + db.d("push", "-q")
            db.commit("v2")
            _, dafter = bucket_usage(s3, "dvc-b/")
            dvc_new = dafter - dbefore
            log(f"B: DVC v2 add+push {dvc_t2:.2f}s, {dvc_new / MiB:.2f} MiB new")
        except BenchError as err:
            dvc_err = f"DVC failed at B v2: {err}"
    changed = sum(len(d) for d in changes.values())
    rows.append(
        Row(
            "B v2 → S3",
            f"new bytes stored ({len(changes)} x {sizes.b_append / MiB:g} MiB appended)",
            "MiB",
            new / MiB,
            None if dvc_new is None else dvc_new / MiB,
            "DVC",
            None if not dvc_new else new / dvc_new,
            "-" if not dvc_new else f"{new / dvc_new:.2f}x of DVC",
            "≤ 10 MiB",
            new <= 10 * MiB,
            dvc_err or "",
            {"new_bytes": new, "dvc_new_bytes": dvc_new, "changed_bytes": changed},
        )
    )
    rows.append(speed_row("B v2 → S3", "time: put_file / dvc add+push", secs2, dvc_t2, 1, dvc_err or ""))
    rows[-1].target = "-"
    rows[-1].ok = None
    empty_prefix(s3, prefix)
    empty_prefix(s3, "dvc-b/")
    rmtree(src)
    rmtree(work / "dvc-b")
    rmtree(work / "dv-b")
    return rows


# ----- scale (datavc only) -----------------------------------------------------------


def gen_scale(dest: Path, sizes: Sizes) -> None:
    per_dir = sizes.scale_files // sizes.scale_dirs
    n = 0
    for d in range(sizes.scale_dirs):
        sub = dest / f"d{d:04d}"
        sub.mkdir(parents=True)
        for _ in range(per_dir):
            with open(sub / f"f{n:07d}.txt", "wb") as f:
                f.write(b"file %d\n" % n)
            n += 1


def fresh_client(home: Path, fn: Callable[[Client], Any]) -> tuple[float, Any]:
    """Open a new client (untimed: empty in-memory object cache), time ``fn(client)``."""
    c = Client.open(home)
    try:
        return timed(lambda: fn(c))
    finally:
        c.close()


def bench_scale(work: Path, sizes: Sizes) -> list[Row]:
    n = sizes.scale_files
    src = work / "big-src"
    log(f"scale: generating {n:,} tiny files in {sizes.scale_dirs} dirs")
    t_gen, _ = timed(lambda: gen_scale(src, sizes))
    home = work / "dv-big"
    c = Client.init(home)
    c.create_repo("big")
    t_build, c0 = timed(lambda: c.put_file("big", "main", "/", src))
    check(c0.file_count == n, f"big repo has {c0.file_count} files, expected {n}")
    c.close()
    rmtree(src)
    log(f"scale: generated in {t_gen:.1f}s, first commit {t_build:.1f}s")
    label = f"{n // 1000:,}k files"
    rows: list[Row] = []

    def scale_row(measure: str, unit: str, v: float, target: str, ok: bool, **d: Any) -> Row:
        return Row(f"scale {label}", measure, unit, v, None, "", None, "-", target, ok, "", d)

    # Commit of one changed file (3 runs, a different file each time; median).
    commit_times = []
    for i in range(3):
        path = f"/d{i:04d}/f{i * (n // sizes.scale_dirs):07d}.txt"
        s, info = fresh_client(
            home, lambda cl, p=path, i=i: cl.put_file("big", "main", p, b"changed %d\n" % i)
        )
        check(info.file_count == n, "a one-file commit changed the file count")
        commit_times.append(s)
    med = statistics.median(commit_times)
    rows.append(
        scale_row(
            "commit of 1 changed file (put_file)",
            "s",
            med,
            "≤ 0.5 s",
            med <= 0.5,
            runs=commit_times,
            build_seconds=t_build,
            generate_seconds=t_gen,
        )
    )
    log(f"scale: commit 1 file {commit_times}")

    # Diff of two commits that differ in 10 files.
    c = Client.open(home)
    before = c.inspect_commit("big", "main")
    with c.commit("big", "main", message="10 files") as tx:
        for i in range(10):
            d = 10 + i * (sizes.scale_dirs // 10 - 1)
            tx.put_file(
                f"/d{d:04d}/new{i}.txt" if i % 2 else f"/d{d:04d}/f{d * (n // sizes.scale_dirs):07d}.txt",
                b"ten %d\n" % i,
            )
    after = tx.info
    assert after is not None
    c.close()
    diff_times = []
    for _ in range(3):
        s, ds = fresh_client(home, lambda cl: list(cl.diff("big", before.id, after.id)))
        check(len(ds) == 10, f"diff has {len(ds)} entries, expected 10")
        diff_times.append(s)
    med = statistics.median(diff_times)
    rows.append(
        scale_row("diff of 2 commits 10 files apart", "s", med, "≤ 0.5 s", med <= 0.5, runs=diff_times)
    )
    log(f"scale: diff {diff_times}")

    # ls -r through the API.
    total = n + 5  # 5 of the 10 were new files
    ls_rates = []
    for _ in range(2):
        s, cnt = fresh_client(
            home, lambda cl: sum(1 for _ in cl.list_files("big", "main", "/", recursive=True))
        )
        check(cnt == total, f"ls -r found {cnt} entries, expected {total}")
        ls_rates.append(cnt / s)
    rate = max(ls_rates)
    rows.append(
        scale_row(
            "ls -r (API list_files, consumed)",
            "entries/s",
            rate,
            "≥ 100,000/s",
            rate >= 100_000,
            runs=ls_rates,
        )
    )
    log(f"scale: ls -r API {ls_rates}")

    # ls -r through the CLI, if it exists.
    exe = Path(sys.executable).parent / "datavc"
    cli_cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "datavc.cli"]
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*cli_cmd, "--home", str(home), "ls", "-r", "big@main"],
            capture_output=True,
            timeout=600,
            cwd=work,
        )
        s = time.perf_counter() - t0
        lines = proc.stdout.count(b"\n")
        if proc.returncode == 0 and lines >= total:
            t0 = time.perf_counter()
            subprocess.run([*cli_cmd, "--version"], capture_output=True, timeout=120, check=False)
            startup = time.perf_counter() - t0
            rows.append(
                scale_row(
                    "ls -r (CLI, whole process)",
                    "entries/s",
                    total / s,
                    "≥ 100,000/s",
                    total / s >= 100_000,
                    seconds=s,
                    lines=lines,
                    cli_startup_s=startup,
                )
            )
            log(f"scale: ls -r CLI {s:.2f}s for {lines:,} lines (startup {startup:.2f}s)")
        else:
            err = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
            rows.append(_cli_na(label, f"n/a: rc={proc.returncode}, {lines} lines {err}"))
    except (OSError, subprocess.SubprocessError) as err:
        rows.append(_cli_na(label, f"n/a: {err}"))

    # Branch rollback (3 runs: each to main~1; median).
    rb_times = []
    for _ in range(3):
        c = Client.open(home)
        want = c.inspect_commit("big", "main~1").tree
        c.close()
        s, info = fresh_client(home, lambda cl: cl.rollback("big", "main", to="main~1"))
        check(info.tree == want, "rollback did not restore main~1's tree")
        rb_times.append(s)
    med = statistics.median(rb_times)
    rows.append(scale_row("branch rollback to main~1", "s", med, "≤ 0.2 s", med <= 0.2, runs=rb_times))
    log(f"scale: rollback {rb_times}")
    rmtree(home)
    return rows


# ----- output ------------------------------------------------------------------------


def fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if unit in ("entries/s", "objects") or abs(x) >= 1000:
        return f"{x:,.0f} {unit}"
    if unit == "s" and abs(x) < 1:
        return f"{x:.3f} {unit}"
    if abs(x) >= 10:
        return f"{x:,.1f} {unit}"
    return f"{x:,.2f} {unit}"


def render(rows: list[Row], title: str, caption: str) -> Table:
    table = Table(title=title, caption=caption, caption_justify="left")
    table.add_column("step")
    table.add_column("measure")
    table.add_column("datavc", justify="right")
    table.add_column("DVC / reference", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target")
    table.add_column("met")
    for r in rows:
        if r.ref is not None:
            ref = fmt(r.ref, r.unit) + ("" if r.ref_label == "DVC" else f" ({r.ref_label})")
        elif r.ref_note:
            ref = "n/a" + (
                " (not installed)"
                if "not installed" in r.ref_note or "not asked" in r.ref_note
                else " (DVC failed)"
                if "fail" in r.ref_note
                else ""
            )
        else:
            ref = "-"
        met = "-" if r.ok is None else ("yes" if r.ok else "NO")
        if r.ok is None and r.target != "-" and r.ref is None and r.ref_label == "DVC":
            met = "n/a"
        table.add_row(
            r.step,
            r.measure,
            fmt(r.datavc, r.unit) if r.datavc is not None else r.ref_note or "-",
            ref,
            r.ratio_text,
            r.target,
            met,
        )
    return table


def run(work: Path, sizes: Sizes, dvc: Path | None, dvc_note: str, reps: int, scale: bool) -> list[Row]:
    rows: list[Row] = []
    with moto_server(work / "moto.log") as endpoint:
        s3_env(endpoint)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        rows += bench_a(work, sizes, dvc, dvc_note, endpoint, s3)
        rows += bench_b(work, sizes, dvc, dvc_note, endpoint, s3, reps)
        s3.close()
    if scale:
        rows += bench_scale(work, sizes)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--with-dvc", action="store_true", help="install DVC in its own venv (reused) and compare"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where to put data, stores and the DVC venv "
        "(default: data in a temp dir in /tmp, DVC in ~/.cache/datavc-bench)",
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument(
        "--reps", type=int, default=2, help="runs of B v1 (raw vs datavc, alternating); best kept"
    )
    parser.add_argument("--no-scale", action="store_true", help="skip the 200k-file scale figures")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    base = args.workdir if args.workdir is not None else Path.home() / ".cache" / "datavc-bench"
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=args.workdir or "/tmp"))
    dvc: Path | None = None
    dvc_note = "not installed: run with --with-dvc (DVC was not asked for)"
    if args.with_dvc:
        dvc, dvc_note = ensure_dvc(base)
        if dvc is None:
            dvc_note = "not installed: " + dvc_note
    t0 = time.perf_counter()
    try:
        rows = run(work, sizes, dvc, dvc_note, max(1, args.reps), not args.no_scale)
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    finally:
        rmtree(work)
    elapsed = time.perf_counter() - t0
    mode = "quick" if args.quick else "full"
    title = (
        f"datavc vs DVC ({mode}: A = {sizes.a_files:,} files of 1-8 KiB in {sizes.a_dirs} dirs, "
        f"B = {sizes.b_count} x {sizes.b_size / MiB:g} MiB, scale = {sizes.scale_files:,} files)"
    )
    errs = sorted({r.ref_note for r in rows if r.ref_note and r.ref_label == "DVC"})
    caption = (
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {dvc_note if dvc else ''}"
        f"{'; ' if dvc else ''}S3 = one moto server on localhost for both tools; times are wall seconds, "
        "sources in the page cache, sync before each step; 'x faster' = DVC time / datavc time; "
        f"MiB = 2^20 bytes; wall time {elapsed:.0f}s" + "".join(f"\nDVC n/a: {e}" for e in errs)
    )
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    console.print(render(rows, title, caption))
    if args.json:
        doc = {
            "mode": mode,
            "sizes": asdict(sizes),
            "dvc": dvc_note,
            "elapsed_s": elapsed,
            "rows": [asdict(r) for r in rows],
        }
        print(json.dumps(doc, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
