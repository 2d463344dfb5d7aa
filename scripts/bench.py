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
file, diff of two commits 10 files apart, ``ls -r`` entries/s (API and CLI), rollback, and
the server time of the slowest web console page (``bench_console.py`` has every page).
Remote: put and get of A and B through ``datavc serve`` vs the direct client
(``scripts/bench_remote.py``; target ≥ 0.7x of direct).
Pipelines (``scripts/bench_pipelines.py``; ``--pipelines only`` runs just them): datums
against bare processes, the sandbox's overhead, batched against unbatched, job scale.

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

import boto3
from benchlib import (
    BUCKET,
    SEED,
    BenchError,
    KiB,
    MiB,
    bucket_usage,
    check,
    empty_prefix,
    fmt,
    gen_files,
    log,
    moto_server,
    print_table,
    raw_put,
    read_all,
    rmtree,
    s3_env,
    sync,
    timed,
    write_random,
)

from datavc.client import Client

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
        write_random(p, sizes.b_size, rnd.randbytes, block=8 * MiB)
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


class DatasetA:
    """Dataset A's steps, in order, each timed for datavc and (when installed) DVC.

    The steps build on each other (v2 is stored on top of v1, the rollback goes back to
    v1, the fresh download reads v2), so the shared state lives here; each ``step_...``
    method measures one step and returns its row(s).
    """

    def __init__(
        self, work: Path, sizes: Sizes, dvc: Path | None, dvc_note: str, endpoint: str, s3: Any
    ) -> None:
        self.work, self.s3 = work, s3
        self.src = work / "A"
        log(f"A: generating {sizes.a_files:,} files of 1-8 KiB in {sizes.a_dirs} dirs")
        self.files = gen_a(self.src, sizes)
        self.v1_copy = work / "A-v1"  # pristine v1, to verify rollbacks
        shutil.copytree(self.src, self.v1_copy)
        self.changes = a_v2_changes(self.src, self.files, sizes)
        self.v1_of_changed = {rel: (self.src / rel).read_bytes() for rel in self.changes}
        self.dvc_err: str | None = None if dvc else dvc_note
        self.t: dict[str, float | None] = {}  # DVC's time per step (None: not measured)
        self.ds_sha: dict[str, str] = {}  # git commit of each version in the DVC S3 repo
        self.dl: DvcRepo | None = None
        self.ds: DvcRepo | None = None
        if dvc:
            self._setup_dvc(dvc, endpoint)
        self.wc = work / "wc"
        self.client: Client | None = None  # the S3 deployment (steps 2 to 5)
        self.v1: Any = None
        self.v2: Any = None
        read_all(self.files)
        sync()

    def _setup_dvc(self, dvc: Path, endpoint: str) -> None:
        """DVC repos get their own copies of the data (untimed)."""
        env, dlog = dvc_env(self.work), self.work / "dvc-commands.log"
        try:
            self.dl = DvcRepo(dvc, self.work / "dvc-local", env, dlog)
            self.dl.init(None, endpoint)
            shutil.copytree(self.src, self.dl.root / "data")
            self.ds = DvcRepo(dvc, self.work / "dvc-s3", env, dlog)
            self.ds.init(f"s3://{BUCKET}/dvc", endpoint)
            shutil.copytree(self.src, self.ds.root / "data")
        except BenchError as err:
            self.dvc_err = f"DVC repo setup failed: {err}"

    def dvc_step(self, name: str, fn: Callable[[], float]) -> float | None:
        """Time DVC's side of a step, unless DVC is missing or failed earlier; record a failure."""
        self.t[name] = None
        if self.dvc_err is not None:
            return None
        try:
            self.t[name] = fn()
            log(f"A: DVC {name}: {self.t[name]:.2f}s")
        except BenchError as err:
            self.dvc_err = f"DVC failed at {name}: {err}"
            log(self.dvc_err)
        return self.t[name]

    def step_v1_local(self) -> Row:
        """1. v1 into a local store."""
        c1 = Client.init(self.work / "dv-local")
        c1.create_repo("a")
        secs, info = timed(lambda: c1.put_file("a", "main", "/", self.src))
        n = len(self.files)
        check(info.file_count == n, f"local v1 has {info.file_count} files, expected {n}")
        c1.close()
        log(f"A: datavc v1 local: {secs:.2f}s")
        sync()
        dl = self.dl
        ref = self.dvc_step("add (local)", lambda: dl.d("add", "-q", "data"))  # type: ignore[union-attr]
        if dl is not None:
            rmtree(dl.root)
        row = speed_row("A v1 → local", "time: put_file / dvc add", secs, ref, 5, self.dvc_err or "")
        sync()
        return row

    def _dvc_version(self, name: str) -> float:
        assert self.ds is not None
        s = self.ds.d("add", "-q", "data") + self.ds.d("push", "-q")
        self.ds_sha[name] = self.ds.commit(name)
        return s

    def step_v1_s3(self) -> Row:
        """2. v1 into S3."""
        c2 = self.client = Client.init(self.work / "dv-s3", objects=f"s3://{BUCKET}/datavc")
        c2.create_repo("a")
        secs, self.v1 = timed(lambda: c2.put_file("a", "main", "/", self.src))
        n = len(self.files)
        check(self.v1.file_count == n, f"S3 v1 has {self.v1.file_count} files, expected {n}")
        log(f"A: datavc v1 S3: {secs:.2f}s")
        sync()
        ref = self.dvc_step("add+push v1", lambda: self._dvc_version("v1"))
        return speed_row("A v1 → S3", "time: put_file / dvc add+push", secs, ref, 20, self.dvc_err or "")

    def step_v2_s3(self) -> Row:
        """3. v2 (1% rewritten) into S3."""
        assert self.client is not None
        c2, changes = self.client, self.changes
        roots = [self.src] + ([self.ds.root / "data"] if self.ds is not None and self.dvc_err is None else [])
        apply_rewrite(roots, changes)
        sync()
        secs, self.v2 = timed(lambda: c2.put_file("a", "main", "/", self.src))
        n = len(self.files)
        check(self.v2.file_count == n, f"S3 v2 has {self.v2.file_count} files, expected {n}")
        got = {d.path.lstrip("/") for d in c2.diff("a", self.v1.id, self.v2.id)}
        check(got == set(changes), f"diff v1..v2 has {len(got)} paths, expected {len(changes)}")
        log(f"A: datavc v2 S3: {secs:.2f}s ({len(changes)} files changed)")
        sync()
        ref = self.dvc_step("add+push v2", lambda: self._dvc_version("v2"))
        return speed_row(
            "A v2 → S3",
            f"time: put_file / dvc add+push ({len(changes)} files changed)",
            secs,
            ref,
            5,
            self.dvc_err or "",
        )

    def step_rollback(self) -> Row:
        """4. Rollback of a working directory to v1."""
        assert self.client is not None
        c2, wc, changes = self.client, self.wc, self.changes
        c2.checkout("a", self.v2.id, wc)
        check_sample(wc, changes, "checkout of v2")
        sync()
        secs, co = timed(lambda: c2.checkout("a", self.v1.id, wc))
        check(
            co.files_written == len(changes),
            f"rollback rewrote {co.files_written} files, expected {len(changes)}",
        )
        check_sample(wc, self.v1_of_changed, "datavc rollback to v1")
        sample = random.Random(SEED + 4).sample(rel_files(self.v1_copy), min(200, len(self.files)))
        check_sample(
            wc, {r: (self.v1_copy / r).read_bytes() for r in sample}, "datavc rollback to v1 (sample)"
        )
        log(f"A: datavc rollback: {secs:.3f}s ({co.files_written} files rewritten)")
        sync()

        def dvc_rollback() -> float:
            assert self.ds is not None
            s = self.ds.git("checkout", self.ds_sha["v1"], "--", "data.dvc") + self.ds.d("checkout", "-q")
            check_sample(self.ds.root / "data", self.v1_of_changed, "DVC rollback to v1")
            return s

        ref = self.dvc_step("rollback", dvc_rollback)
        return speed_row(
            "A rollback wc → v1",
            "time: checkout / git checkout + dvc checkout",
            secs,
            ref,
            3,
            self.dvc_err or "",
        )

    def step_fresh_download(self) -> Row:
        """5. Fresh download of v2 into an empty directory, every object from S3."""
        assert self.client is not None
        work = self.work
        fresh_home = work / "dv-fresh" / ".datavc"
        fresh_home.mkdir(parents=True)
        cfg = self.client.config
        (fresh_home / "config.json").write_text(
            json.dumps(
                {"version": 1, "db": cfg.db, "objects": cfg.objects, "cache": str(fresh_home / "cache")}
            )
        )
        self.client.close()
        out = work / "fresh-datavc"

        def fresh() -> Any:
            c3 = Client.open(work / "dv-fresh")
            try:
                return c3.checkout("a", "main", out)
            finally:
                c3.close()

        sync()
        secs, co = timed(fresh)
        check(co.commit == self.v2.id, "fresh checkout is not of v2")
        n = same_tree(out, self.src, "datavc fresh download")
        log(f"A: datavc fresh download: {secs:.2f}s ({n:,} files verified)")
        rmtree(out)
        sync()

        def dvc_fresh() -> float:
            assert self.ds is not None
            clone = work / "dvc-fresh"
            s = self.ds.git("clone", "-q", str(self.ds.root), str(clone), cwd=work) + self.ds.d(
                "pull", "-q", cwd=clone
            )
            same_tree(clone / "data", self.src, "DVC fresh download")
            rmtree(clone)
            return s

        ref = self.dvc_step("fresh clone+pull", dvc_fresh)
        return speed_row(
            "A fresh download v2",
            "time: open+checkout (empty cache) / git clone + dvc pull",
            secs,
            ref,
            10,
            self.dvc_err or "",
        )

    def step_storage(self) -> list[Row]:
        """6. Storage after two versions."""
        dv_n, dv_b = bucket_usage(self.s3, "datavc/")
        dvc_n, dvc_b = bucket_usage(self.s3, "dvc/") if self.t["add+push v2"] is not None else (None, None)
        note = self.dvc_err or ""
        return [
            info_row(
                "A storage (2 versions)",
                "bytes in the bucket",
                "MiB",
                dv_b / MiB,
                None if dvc_b is None else dvc_b / MiB,
                note,
                datavc_bytes=dv_b,
                dvc_bytes=dvc_b,
            ),
            info_row("A storage (2 versions)", "objects in the bucket", "objects", dv_n, dvc_n, note),
        ]

    def cleanup(self) -> None:
        for p in (self.src, self.v1_copy, self.wc, self.work / "dvc-s3", self.work / "dv-local"):
            rmtree(p)
        empty_prefix(self.s3, "dvc/")


def bench_a(work: Path, sizes: Sizes, dvc: Path | None, dvc_note: str, endpoint: str, s3: Any) -> list[Row]:
    a = DatasetA(work, sizes, dvc, dvc_note, endpoint, s3)
    rows = [a.step_v1_local(), a.step_v1_s3(), a.step_v2_s3(), a.step_rollback(), a.step_fresh_download()]
    rows += a.step_storage()
    rows[0].details.update(
        files=len(a.files),
        bytes=sum(p.stat().st_size for p in a.files),
        changed=len(a.changes),
        dvc_error=a.dvc_err,
        dvc_times=a.t,
    )
    a.cleanup()
    return rows


# ----- dataset B ---------------------------------------------------------------------


class DatasetB:
    """Dataset B's steps: v1 into S3 (against raw ``put_object`` and DVC), then v2.

    v2 is stored on top of v1's store, so the shared state lives here; each ``step_...``
    method measures one step and returns its row(s).
    """

    def __init__(
        self, work: Path, sizes: Sizes, dvc: Path | None, dvc_note: str, endpoint: str, s3: Any
    ) -> None:
        self.work, self.sizes, self.s3 = work, sizes, s3
        self.src = work / "B"
        log(f"B: generating {sizes.b_count} x {sizes.b_size / MiB:g} MiB")
        self.files = gen_b(self.src, sizes)
        self.total = sum(p.stat().st_size for p in self.files)
        self.changes = b_v2_changes(self.src, self.files, sizes)
        self.dvc_err: str | None = None if dvc else dvc_note
        self.db: DvcRepo | None = None
        if dvc:
            try:
                self.db = DvcRepo(dvc, work / "dvc-b", dvc_env(work), work / "dvc-commands.log")
                self.db.init(f"s3://{BUCKET}/dvc-b", endpoint)
                shutil.copytree(self.src, self.db.root / "data")
            except BenchError as err:
                self.dvc_err = f"DVC repo setup failed: {err}"
        self.client: Client | None = None
        self.prefix = ""
        self.dv_v1 = 0.0
        read_all(self.files)
        sync()

    def step_v1_raw(self, reps: int) -> Row:
        """v1 into S3: raw put_object vs datavc, alternating, best of ``reps``."""
        s3, src, files = self.s3, self.src, self.files
        raw_times: list[float] = []
        dv_times: list[float] = []
        for rep in range(reps):
            raw_times.append(raw_put(s3, files, "raw-b/"))
            empty_prefix(s3, "raw-b/")
            if self.client is not None:
                self.client.close()
                empty_prefix(s3, self.prefix)
                rmtree(self.work / "dv-b")
            self.prefix = f"datavc-b{rep}/"
            sync()
            client = self.client = Client.init(
                self.work / "dv-b", objects=f"s3://{BUCKET}/{self.prefix.rstrip('/')}"
            )
            client.create_repo("b")
            secs, v1 = timed(lambda c=client: c.put_file("b", "main", "/", src))
            dv_times.append(secs)
            check(v1.file_count == len(files), f"B v1 has {v1.file_count} files")
            log(f"B v1 rep {rep}: raw put_object {raw_times[-1]:.2f}s, datavc {secs:.2f}s")
        assert self.client is not None
        for rel in (files[0].name, files[-1].name):
            got = self.client.get_file("b", "main", "/" + rel)
            check(got == (src / rel).read_bytes(), f"B v1 /{rel} differs")
        raw, dv = min(raw_times), min(dv_times)
        self.dv_v1 = dv
        return Row(
            "B v1 → S3",
            f"time ({self.total / MiB:,.0f} MiB)",
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
                "bytes": self.total,
                "datavc_seconds": dv_times,
                "raw_seconds": raw_times,
                "datavc_MiB_s": self.total / MiB / dv,
                "raw_MiB_s": self.total / MiB / raw,
            },
        )

    def step_v1_dvc(self) -> Row:
        """v1 into S3: datavc's best time (from ``step_v1_raw``) beside DVC add+push."""
        dvc_t1 = None
        if self.db is not None and self.dvc_err is None:
            try:
                sync()
                dvc_t1 = self.db.d("add", "-q", "data") + self.db.d("push", "-q")
                self.db.commit("v1")
                log(f"B: DVC v1 add+push {dvc_t1:.2f}s")
            except BenchError as err:
                self.dvc_err = f"DVC failed at B v1: {err}"
        row = speed_row(
            "B v1 → S3", "time: put_file / dvc add+push", self.dv_v1, dvc_t1, 1, self.dvc_err or ""
        )
        row.target = "-"
        row.ok = None
        return row

    def step_v2(self) -> list[Row]:
        """v2: 1 MiB appended to 2 files; time and new bytes in the bucket, datavc and DVC."""
        assert self.client is not None
        s3, src, client, changes = self.s3, self.src, self.client, self.changes
        _, before = bucket_usage(s3, self.prefix)
        roots = [src] + ([self.db.root / "data"] if self.db is not None and self.dvc_err is None else [])
        apply_append(roots, changes)
        sync()
        secs2, _ = timed(lambda: client.put_file("b", "main", "/", src))
        _, after = bucket_usage(s3, self.prefix)
        new = after - before
        for rel in changes:
            check(client.get_file("b", "main", "/" + rel) == (src / rel).read_bytes(), f"B v2 /{rel} differs")
        log(f"B: datavc v2 {secs2:.2f}s, {new / MiB:.2f} MiB new")
        client.close()
        dvc_t2 = dvc_new = None
        if self.db is not None and self.dvc_err is None:
            try:
                _, dbefore = bucket_usage(s3, "dvc-b/")
                sync()
                dvc_t2 = self.db.d("add", "-q", "data") + self.db.d("push", "-q")
                self.db.commit("v2")
                _, dafter = bucket_usage(s3, "dvc-b/")
                dvc_new = dafter - dbefore
                log(f"B: DVC v2 add+push {dvc_t2:.2f}s, {dvc_new / MiB:.2f} MiB new")
            except BenchError as err:
                self.dvc_err = f"DVC failed at B v2: {err}"
        changed = sum(len(d) for d in changes.values())
        rows = [
            Row(
                "B v2 → S3",
                f"new bytes stored ({len(changes)} x {self.sizes.b_append / MiB:g} MiB appended)",
                "MiB",
                new / MiB,
                None if dvc_new is None else dvc_new / MiB,
                "DVC",
                None if not dvc_new else new / dvc_new,
                "-" if not dvc_new else f"{new / dvc_new:.2f}x of DVC",
                "≤ 10 MiB",
                new <= 10 * MiB,
                self.dvc_err or "",
                {"new_bytes": new, "dvc_new_bytes": dvc_new, "changed_bytes": changed},
            ),
            speed_row("B v2 → S3", "time: put_file / dvc add+push", secs2, dvc_t2, 1, self.dvc_err or ""),
        ]
        rows[-1].target = "-"
        rows[-1].ok = None
        return rows

    def cleanup(self) -> None:
        empty_prefix(self.s3, self.prefix)
        empty_prefix(self.s3, "dvc-b/")
        rmtree(self.src)
        rmtree(self.work / "dvc-b")
        rmtree(self.work / "dv-b")


def bench_b(
    work: Path, sizes: Sizes, dvc: Path | None, dvc_note: str, endpoint: str, s3: Any, reps: int
) -> list[Row]:
    b = DatasetB(work, sizes, dvc, dvc_note, endpoint, s3)
    rows = [b.step_v1_raw(reps), b.step_v1_dvc(), *b.step_v2()]
    b.cleanup()
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


@dataclass(slots=True)
class Scale:
    """The scale repo: ``home`` holds repo ``big`` with ``n`` files; rows are labelled ``label``."""

    home: Path
    n: int
    dirs: int
    label: str
    build_seconds: float
    generate_seconds: float

    def row(self, measure: str, unit: str, v: float, target: str, ok: bool, **d: Any) -> Row:
        return Row(f"scale {self.label}", measure, unit, v, None, "", None, "-", target, ok, "", d)


def scale_build(work: Path, sizes: Sizes) -> Scale:
    """The scale repo's first commit (untimed in the table; its time is in the details)."""
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
    return Scale(home, n, sizes.scale_dirs, f"{n // 1000:,}k files", t_build, t_gen)


def scale_commit(sc: Scale) -> Row:
    """Commit of one changed file (3 runs, a different file each time; median)."""
    n = sc.n
    commit_times = []
    for i in range(3):
        path = f"/d{i:04d}/f{i * (n // sc.dirs):07d}.txt"
        s, info = fresh_client(
            sc.home, lambda cl, p=path, i=i: cl.put_file("big", "main", p, b"changed %d\n" % i)
        )
        check(info.file_count == n, "a one-file commit changed the file count")
        commit_times.append(s)
    med = statistics.median(commit_times)
    log(f"scale: commit 1 file {commit_times}")
    return sc.row(
        "commit of 1 changed file (put_file)",
        "s",
        med,
        "≤ 0.5 s",
        med <= 0.5,
        runs=commit_times,
        build_seconds=sc.build_seconds,
        generate_seconds=sc.generate_seconds,
    )


def scale_diff(sc: Scale) -> Row:
    """Diff of two commits that differ in 10 files (5 changed, 5 new; 3 runs, median)."""
    n = sc.n
    c = Client.open(sc.home)
    before = c.inspect_commit("big", "main")
    with c.commit("big", "main", message="10 files") as tx:
        for i in range(10):
            d = 10 + i * (sc.dirs // 10 - 1)
            tx.put_file(
                f"/d{d:04d}/new{i}.txt" if i % 2 else f"/d{d:04d}/f{d * (n // sc.dirs):07d}.txt",
                b"ten %d\n" % i,
            )
    after = tx.info
    assert after is not None
    c.close()
    diff_times = []
    for _ in range(3):
        s, ds = fresh_client(sc.home, lambda cl: list(cl.diff("big", before.id, after.id)))
        check(len(ds) == 10, f"diff has {len(ds)} entries, expected 10")
        diff_times.append(s)
    med = statistics.median(diff_times)
    log(f"scale: diff {diff_times}")
    return sc.row("diff of 2 commits 10 files apart", "s", med, "≤ 0.5 s", med <= 0.5, runs=diff_times)


def scale_entries(sc: Scale) -> int:
    """Entries of ``ls -r`` after ``scale_diff`` (5 of its 10 files were new)."""
    return sc.n + 5


def scale_ls_api(sc: Scale) -> Row:
    """``ls -r`` through the API (2 runs, best)."""
    total = scale_entries(sc)
    ls_rates = []
    for _ in range(2):
        s, cnt = fresh_client(
            sc.home, lambda cl: sum(1 for _ in cl.list_files("big", "main", "/", recursive=True))
        )
        check(cnt == total, f"ls -r found {cnt} entries, expected {total}")
        ls_rates.append(cnt / s)
    rate = max(ls_rates)
    log(f"scale: ls -r API {ls_rates}")
    return sc.row(
        "ls -r (API list_files, consumed)", "entries/s", rate, "≥ 100,000/s", rate >= 100_000, runs=ls_rates
    )


def scale_ls_cli(sc: Scale, work: Path) -> Row:
    """``ls -r`` through the CLI, the whole process (n/a if the CLI cannot run)."""
    total = scale_entries(sc)
    exe = Path(sys.executable).parent / "datavc"
    cli_cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "datavc.cli"]
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*cli_cmd, "--home", str(sc.home), "ls", "-r", "big@main"],
            capture_output=True,
            timeout=600,
            cwd=work,
        )
        s = time.perf_counter() - t0
        lines = proc.stdout.count(b"\n")
        if proc.returncode != 0 or lines < total:
            err = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
            return _cli_na(sc.label, f"n/a: rc={proc.returncode}, {lines} lines {err}")
        t0 = time.perf_counter()
        subprocess.run([*cli_cmd, "--version"], capture_output=True, timeout=120, check=False)
        startup = time.perf_counter() - t0
    except (OSError, subprocess.SubprocessError) as err:
        return _cli_na(sc.label, f"n/a: {err}")
    log(f"scale: ls -r CLI {s:.2f}s for {lines:,} lines (startup {startup:.2f}s)")
    return sc.row(
        "ls -r (CLI, whole process)",
        "entries/s",
        total / s,
        "≥ 100,000/s",
        total / s >= 100_000,
        seconds=s,
        lines=lines,
        cli_startup_s=startup,
    )


def scale_rollback(sc: Scale) -> Row:
    """Branch rollback (3 runs: each to main~1; median)."""
    rb_times = []
    for _ in range(3):
        c = Client.open(sc.home)
        want = c.inspect_commit("big", "main~1").tree
        c.close()
        s, info = fresh_client(sc.home, lambda cl: cl.rollback("big", "main", to="main~1"))
        check(info.tree == want, "rollback did not restore main~1's tree")
        rb_times.append(s)
    med = statistics.median(rb_times)
    log(f"scale: rollback {rb_times}")
    return sc.row("branch rollback to main~1", "s", med, "≤ 0.2 s", med <= 0.2, runs=rb_times)


def scale_merge(sc: Scale) -> Row:
    """Three-way merge of a branch with 10 changed files (5 changed, 5 new) into a main that moved
    (3 runs, each on a new branch; median). Its cost must follow the changes, not the 200k files."""
    n = sc.n
    merge_times = []
    for run in range(3):
        c = Client.open(sc.home)
        c.create_branch("big", f"feat{run}", "main")
        with c.commit("big", f"feat{run}", message="10 files") as tx:
            for i in range(10):
                d = 20 + run * 7 + i * (sc.dirs // 10 - 3)
                tx.put_file(
                    f"/d{d:04d}/m{run}-{i}.txt" if i % 2 else f"/d{d:04d}/f{d * (n // sc.dirs):07d}.txt",
                    b"merged %d %d\n" % (run, i),
                )
        c.put_file("big", "main", f"/d0001/main-moved-{run}.txt", b"so the merge is three-way")
        c.close()
        s, info = fresh_client(sc.home, lambda cl, r=run: cl.merge("big", f"feat{r}", "main"))
        check(info.result == "merged" and info.changes == 10, f"merge: {info.result}, {info.changes} changes")
        merge_times.append(s)
    med = statistics.median(merge_times)
    log(f"scale: merge of 10 files {merge_times}")
    return sc.row(
        "merge of a branch with 10 changed files", "s", med, "≤ 0.5 s", med <= 0.5, runs=merge_times
    )


def scale_console(sc: Scale) -> Row:
    """The slowest console page's server time (each page: median of 3; see bench_console.py)."""
    from bench_console import TARGET_S, page_times

    times = page_times(sc.home, "big")
    worst = max(times.values())
    log("scale: console pages " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in times.items()))
    return sc.row(
        "console: slowest page, server time",
        "s",
        worst,
        f"≤ {TARGET_S:g} s",
        worst <= TARGET_S,
        pages_ms={k: round(v * 1000, 1) for k, v in times.items()},
    )
def bench_remote(work: Path, sizes: Sizes) -> list[Row]:
    """Remote (through ``datavc serve``) versus direct put and get of A and B (scripts/bench_remote.py)."""
    from bench_remote import TARGET, bench_remote_data

    src_a, src_b = work / "remote-A", work / "remote-B"
    gen_a(src_a, sizes)
    gen_b(src_b, sizes)
    try:
        found = bench_remote_data(work / "remote", src_a, src_b, reps=2)  # best of 2, side by side
        load = round(os.getloadavg()[0], 1)  # the machine may be shared: say how busy it was
    finally:
        rmtree(src_a)
        rmtree(src_b)
    return [
        Row(
            r["step"],
            "time: remote client / direct client",
            "s",
            r["remote_s"],
            r["direct_s"],
            "direct",
            r["ratio"],
            f"{r['ratio']:.2f}x of direct",
            f"≥ {TARGET}x of direct",
            r["ok"],
            details={"load_average": load},
        )
        for r in found
    ]


def bench_scale(work: Path, sizes: Sizes) -> list[Row]:
    sc = scale_build(work, sizes)
    rows = [scale_commit(sc), scale_diff(sc), scale_ls_api(sc), scale_ls_cli(sc, work), scale_rollback(sc)]
    rows.append(scale_merge(sc))
    rows.append(scale_console(sc))
    rmtree(sc.home)
    return rows


def pipeline_rows(work: Path, quick: bool) -> list[Row]:
    """The pipelines section (bench_pipelines.py): local executor vs bare processes, batching, scale."""
    import bench_pipelines as bp

    got = bp.bench_pipelines(work, bp.PIPE_QUICK if quick else bp.PIPE_FULL, log=log)
    return [
        Row(
            "pipelines: " + r.step,
            r.measure,
            r.unit,
            r.datavc,
            r.ref,
            r.ref_label,
            None if r.ref is None or r.datavc is None else r.datavc / r.ref,
            r.ratio_text + ("" if r.load is None else f" (load {r.load:.1f})"),
            r.target,
            r.ok,
        )
        for r in got
    ]


# ----- output ------------------------------------------------------------------------


def fmt_unit(x: float | None, unit: str) -> str:
    return "-" if x is None else f"{fmt(x, unit)} {unit}"


def ref_cell(r: Row) -> str:
    """The reference column: the figure, or why DVC has none."""
    if r.ref is not None:
        return fmt_unit(r.ref, r.unit) + ("" if r.ref_label == "DVC" else f" ({r.ref_label})")
    if not r.ref_note:
        return "-"
    if "not installed" in r.ref_note or "not asked" in r.ref_note:
        return "n/a (not installed)"
    return "n/a (DVC failed)" if "fail" in r.ref_note else "n/a"


def met_cell(r: Row) -> str:
    if r.ok is None and r.target != "-" and r.ref is None and r.ref_label == "DVC":
        return "n/a"
    return "-" if r.ok is None else ("yes" if r.ok else "NO")


def print_rows(rows: list[Row], title: str, caption: str) -> None:
    print_table(
        title,
        caption,
        [
            ("step", False),
            ("measure", False),
            ("datavc", True),
            ("DVC / reference", True),
            ("ratio", True),
            ("target", False),
            ("met", False),
        ],
        [
            [
                r.step,
                r.measure,
                fmt_unit(r.datavc, r.unit) if r.datavc is not None else r.ref_note or "-",
                ref_cell(r),
                r.ratio_text,
                r.target,
                met_cell(r),
            ]
            for r in rows
        ],
        width=200,
    )


def run(work: Path, sizes: Sizes, dvc: Path | None, dvc_note: str, reps: int, scale: bool) -> list[Row]:
    rows: list[Row] = []
    with moto_server(work / "moto.log") as endpoint:
        s3_env(endpoint)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        rows += bench_a(work, sizes, dvc, dvc_note, endpoint, s3)
        rows += bench_b(work, sizes, dvc, dvc_note, endpoint, s3, reps)
        s3.close()
    rows += bench_remote(work, sizes)
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
    parser.add_argument(
        "--pipelines",
        choices=("yes", "no", "only"),
        default="yes",
        help="the pipelines section (scripts/bench_pipelines.py): include it, skip it, or run only it",
    )
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
        rows = (
            []
            if args.pipelines == "only"
            else run(work, sizes, dvc, dvc_note, max(1, args.reps), not args.no_scale)
        )
        if args.pipelines != "no":
            rows += pipeline_rows(work, args.quick)
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
    print_rows(rows, title, caption)
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
