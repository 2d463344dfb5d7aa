#!/usr/bin/env python3
"""The pipelines section of ``scripts/bench.py``: datavc's local executor against bare processes.

Rows (each measured side by side in one run, on the same seeded one-file datums):

1. per-datum cost: N trivial datums (``sh -c 'cp ...'``) in ``datavc run``, parallelism 1,
   against the same N ``sh -c cp`` processes started one after another by a shell loop;
   target <= 1.5x.
2. the same with parallelism 4 (on this machine's cores);
3. the sandbox's overhead per datum: the same pipeline with ``sandbox: {}``
   minus without; target <= 5 ms/datum;
4. datum batching: M one-file datums with a Python transform, batched (``datavc.datums()``)
   against unbatched (one interpreter per datum); target >= 1,000 datums/s batched;
5. scale (in a child process, for its peak RSS): planning a job over a K-file input
   (list, hash, record, skip known) <= 10 s and <= 500 MiB; then one changed file runs
   one datum end to end in <= 2 s. The K earlier datum results are seeded straight into
   the database (running K datums first would take minutes and measure nothing new).

``python scripts/bench_pipelines.py [--quick] [--json]`` runs this section alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datavc.client import Client

CP = 'cp "$DATAVC_IN"/data/* "$DATAVC_OUT"/'
PY_ONCE = (
    "import os, shutil\n"
    "d = os.environ['DATAVC_IN'] + '/data'\n"
    "for n in os.listdir(d): shutil.copy(os.path.join(d, n), os.environ['DATAVC_OUT'])\n"
)
PY_BATCHED = (
    "import os, shutil, datavc\n"
    "for d in datavc.datums():\n"
    "    src = d.inputs['data']\n"
    "    for n in os.listdir(src): shutil.copy(os.path.join(src, n), d.output_dir)\n"
)


@dataclass(frozen=True, slots=True)
class PipeSizes:
    datums: int  # rows 1-3
    batched: int  # row 4
    scale: int  # row 5


PIPE_FULL = PipeSizes(1_000, 10_000, 100_000)
PIPE_QUICK = PipeSizes(200, 1_000, 10_000)


@dataclass(slots=True)
class PipeRow:
    step: str
    measure: str
    unit: str
    datavc: float | None
    ref: float | None
    ref_label: str
    ratio_text: str
    target: str
    ok: bool | None


def _store(work: Path, name: str, files: int) -> Client:
    """A store whose repo ``data`` holds ``files`` one-line files (put as one directory)."""
    src = work / f"{name}-src"
    src.mkdir()
    for i in range(files):
        (src / f"f{i:06d}").write_bytes(f"x{i}\n".encode())
    c = Client.init(work / name)
    c.create_repo("data")
    c.put_file("data", "main", "/", src)
    shutil.rmtree(src)
    return c


def _run(c: Client, spec: dict[str, Any]) -> float:
    c.create_pipeline(spec)
    t0 = time.perf_counter()
    report = c.run()
    elapsed = time.perf_counter() - t0
    if not report.ok:
        job = c.list_jobs(spec["pipeline"]["name"], limit=1)[0]
        raise RuntimeError(f"pipeline {spec['pipeline']['name']} failed: {job.message}")
    return elapsed


def _spec(name: str, cmd: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": "data", "glob": "/*"}},
        "transform": {"cmd": cmd},
        **extra,
    }


def bare_processes(work: Path, n: int) -> float:
    """N ``sh -c cp`` processes from a shell loop: the reference a datum is compared with."""
    src, out = work / "bare-src", work / "bare-out"
    src.mkdir()
    out.mkdir()
    for i in range(n):
        (src / f"f{i:06d}").write_bytes(f"x{i}\n".encode())
    t0 = time.perf_counter()
    subprocess.run(
        ["sh", "-c", f'for f in "{src}"/*; do sh -c \'cp "$1" "$2"/\' sh "$f" "{out}"; done'], check=True
    )
    return time.perf_counter() - t0


def per_datum_rows(work: Path, n: int) -> list[PipeRow]:
    rows: list[PipeRow] = []
    c = _store(work, "per-datum", n)
    try:
        bare = bare_processes(work, n)
        t1 = _run(c, _spec("cp1", ["sh", "-c", CP]))
        rows.append(_ratio_row(f"{n:,} trivial datums, parallelism 1", t1, bare, 1.5))
        t4 = _run(c, _spec("cp4", ["sh", "-c", CP], parallelism=4))
        rows.append(
            _ratio_row(f"{n:,} trivial datums, parallelism 4 ({os.cpu_count()} cores)", t4, bare, 1.5)
        )
        if shutil.which("bwrap"):
            tb = _run(c, _spec("cpbox", ["sh", "-c", CP], sandbox={}))
            per = (tb - t1) / n * 1000
            rows.append(
                PipeRow(
                    f"sandbox overhead ({n:,} datums, bwrap)",
                    "ms/datum",
                    "ms",
                    per,
                    None,
                    "",
                    f"{tb:.2f}s vs {t1:.2f}s",
                    "<= 5 ms",
                    per <= 5,
                )
            )
        else:
            rows.append(
                PipeRow("sandbox overhead", "n/a (bwrap missing)", "ms", None, None, "", "-", "<= 5 ms", None)
            )
    finally:
        c.close()
    return rows


def _ratio_row(step: str, t: float, ref: float, target: float) -> PipeRow:
    ratio = t / ref
    return PipeRow(
        step,
        "wall",
        "s",
        t,
        ref,
        "bare sh -c cp loop",
        f"{ratio:.2f}x",
        f"<= {target}x bare",
        ratio <= target,
    )


def batching_rows(work: Path, m: int) -> list[PipeRow]:
    c = _store(work, "batching", m)
    try:
        batched = _spec("batched", [sys.executable, "-c", PY_BATCHED])
        batched["transform"]["datum_batching"] = True
        tb = _run(c, batched)
        # Unbatched on a tenth of the datums (a fresh interpreter each: minutes for all of them).
        part = max(1, m // 10)
        c2 = _store(work, "unbatched", part)
        try:
            tu = _run(c2, _spec("once", [sys.executable, "-c", PY_ONCE]))
        finally:
            c2.close()
    finally:
        c.close()
    rate_b, rate_u = m / tb, part / tu
    return [
        PipeRow(
            f"{m:,} one-file datums, Python transform, batched vs unbatched ({part:,} datums)",
            "datums/s",
            "datums/s",
            rate_b,
            rate_u,
            "unbatched",
            f"{rate_b / rate_u:.1f}x",
            ">= 1,000 datums/s",
            rate_b >= 1000,
        )
    ]


# ----- scale (in a child process) ----------------------------------------------------------


def scale_child(work: Path, k: int) -> dict[str, float]:
    """Plan a job over K files (none known, then all known but one); print timings and peak RSS."""
    from sqlalchemy import insert, select, update

    from datavc.db.models import Datum as DatumRow
    from datavc.db.models import DatumResult, Pipeline
    from datavc.pipelines import runner
    from datavc.pipelines.scheduler import claim

    c = _store(work, "scale", k)
    ctx = c.context
    c.create_pipeline(_spec("big", ["sh", "-c", CP]))
    job = claim(ctx, "bench")
    assert job is not None
    spec, inputs, pipeline_id, _, _ = runner.load_job(ctx, job)
    t0 = time.perf_counter()
    datums = runner.job_datums(ctx, spec, inputs)
    todo = runner._record_datums(ctx, job, pipeline_id, datums, False)
    plan = time.perf_counter() - t0
    assert len(todo) == k
    # Seed every datum's result as if the job had run (an empty output each), and end the
    # job as a success with its output commit, as running it would have.
    with ctx.store.writer() as w:
        empty = w.empty_tree()
    with ctx.db.write() as s:
        pid = s.scalar(select(Pipeline.id).where(Pipeline.name == "big"))
        s.execute(
            insert(DatumResult),
            [
                {"pipeline_id": pid, "datum_hash": d.hash, "output_tree": empty, "inputs": "[]"}
                for d in datums
            ],
        )
        s.execute(update(DatumRow).where(DatumRow.job_id == job).values(state="success", output_tree=empty))
    tree, disjoint = runner._merge_outputs(ctx, job)
    commits = [c for c in inputs.values() if c]
    runner._commit_output(ctx, "big", "main", job, pipeline_id, tree, commits, "bench", disjoint=disjoint)
    del datums
    # One changed file: the next job plans from the input diff (or all K datums when it
    # cannot), skips K-1, runs one.
    c.put_file("data", "main", "/f000007", b"changed\n")
    t0 = time.perf_counter()
    report = c.run()
    one = time.perf_counter() - t0
    load = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    j = c.list_jobs("big", limit=1)[0]
    c.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    return {
        "plan_s": plan,
        "rss_mib": rss,
        "one_s": one,
        "ok": float(report.ok),
        "processed": j.datums_processed,
        "skipped": j.datums_skipped,
        "load": load,
    }


def scale_rows(work: Path, k: int) -> list[PipeRow]:
    out = subprocess.run(
        [sys.executable, __file__, "--scale-child", str(k), "--workdir", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return [
        PipeRow(
            f"plan a {k:,}-datum job (list, hash, record)",
            "wall",
            "s",
            got["plan_s"],
            None,
            "",
            "-",
            "<= 10 s",
            got["plan_s"] <= 10,
        ),
        PipeRow(
            f"peak memory of that process ({k:,} datums)",
            "RSS",
            "MiB",
            got["rss_mib"],
            None,
            "",
            "-",
            "<= 500 MiB",
            got["rss_mib"] <= 500,
        ),
        PipeRow(
            f"one changed file of {k:,}: end to end "
            f"({int(got['processed'])} run, {int(got['skipped']):,} skipped; load {got['load']:.1f})",
            "wall",
            "s",
            got["one_s"],
            None,
            "",
            "-",
            "<= 2 s",
            bool(got["ok"]) and got["processed"] == 1 and got["one_s"] <= 2,
        ),
    ]


def bench_pipelines(work: Path, sizes: PipeSizes, log: Callable[[str], None] = print) -> list[PipeRow]:
    """Every pipelines row, in order."""
    rows: list[PipeRow] = []
    log(f"pipelines: per-datum cost ({sizes.datums:,} datums)")
    rows += per_datum_rows(work, sizes.datums)
    log(f"pipelines: batching ({sizes.batched:,} datums)")
    rows += batching_rows(work, sizes.batched)
    log(f"pipelines: scale ({sizes.scale:,} datums)")
    rows += scale_rows(work, sizes.scale)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="CI-sized: 200 / 1,000 / 10,000 datums")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    parser.add_argument("--workdir", type=Path, help="where to make stores (default: a temp dir)")
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scale_child:
        work = Path(tempfile.mkdtemp(prefix="scale-", dir=args.workdir))
        try:
            print(json.dumps(scale_child(work, args.scale_child)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-pipelines-", dir=args.workdir))
    try:
        rows = bench_pipelines(
            work, PIPE_QUICK if args.quick else PIPE_FULL, log=lambda m: print(m, file=sys.stderr)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for r in rows:
        fig = "-" if r.datavc is None else f"{r.datavc:,.2f} {r.unit}"
        ref = "" if r.ref is None else f" | {r.ref_label}: {r.ref:,.2f} {r.unit}"
        met = "-" if r.ok is None else ("yes" if r.ok else "NO")
        print(f"{r.step:<75} {r.measure:<10} {fig:>16}{ref}  {r.ratio_text}  target {r.target}  met {met}")
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
