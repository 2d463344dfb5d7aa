#!/usr/bin/env python3
"""Remote versus direct: put and get of datasets A and B through ``datavc serve``, side by side.

The same store kind (embedded: SQLite + local objects) is written by the direct client
and, in a second store, by a remote client through a ``datavc serve`` process started
here on 127.0.0.1 (its own process, as in production). Each step is timed for both;
the ratio is direct time / remote time and the target is ≥ 0.7. Every download is
compared with its source byte for byte.

Run alone (``python scripts/bench_remote.py [--quick]``) or as part of ``scripts/bench.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchlib import MiB, check, free_port, log, rmtree, sync, timed

from datavc.client import Client
from datavc.remote import RemoteClient

TARGET = 0.7
START_TIMEOUT = 30.0


@contextmanager
def serve(home: Path, logf: Path, token: str | None = None) -> Iterator[tuple[str, str]]:
    """``datavc serve`` over ``home`` in its own process; yields (url, admin token).

    ``token``: an admin token made beforehand (a store with users gets no bootstrap token).
    """
    port = free_port()
    token_file = home / "admin-token"
    env = {**os.environ, "DATAVC_HOME": str(home)}
    with open(logf, "ab") as log_out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "datavc"),
                "serve",
                "--port",
                str(port),
                # The S3 gateway on any free port: its default (8421) may be held by
                # another server, which would stop this one from starting.
                "--s3-port",
                "0",
                "--log-level",
                "warning",
                "--bootstrap-token-file",
                str(token_file),
            ],
            env=env,
            stdout=log_out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"datavc serve exited with {proc.returncode}; see {logf}")
            try:
                import httpx

                if httpx.get(url + "/healthz", timeout=1).status_code == 200 and (
                    token or token_file.exists()
                ):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"datavc serve did not start; see {logf}")
            time.sleep(0.1)
        yield url, token or token_file.read_text().strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def same_files(a: Path, b: Path) -> int:
    """Check two directory trees hold the same files with the same bytes; returns the count."""
    out = subprocess.run(["diff", "-rq", str(a), str(b)], capture_output=True, text=True)
    check(out.returncode == 0, f"remote download differs from the source: {out.stdout[:500]}")
    return sum(len(fs) for _, _, fs in os.walk(a))


def one_round(work: Path, src_a: Path, src_b: Path, datasets: str = "AB") -> dict[str, tuple[float, float]]:
    """Fresh stores (direct, and served by a new server): {step: (direct s, remote s)}.

    Fresh each round, so neither side deduplicates against an earlier round's objects.
    """
    times: dict[str, tuple[float, float]] = {}
    work.mkdir(parents=True, exist_ok=True)
    d_home, r_home = work / "rd-direct", work / "rd-served"
    rmtree(d_home)
    rmtree(r_home)
    direct = Client.init(d_home)
    Client.init(r_home).close()
    with serve(r_home, work / "serve.log") as (url, token):
        remote = RemoteClient(url, token)
        for ds, src in (("A", src_a), ("B", src_b)):
            if ds not in datasets:
                continue
            repo = ds.lower()
            direct.create_repo(repo)
            remote.create_repo(repo)
            outs = {"d": work / f"out-{ds}-d", "r": work / f"out-{ds}-r"}
            sync()
            d_put, _ = timed(lambda c=direct, r=repo, s=src: c.put_file(r, "main", "/", s))
            sync()
            r_put, _ = timed(lambda c=remote, r=repo, s=src: c.put_file(r, "main", "/", s))
            sync()
            d_get, _ = timed(lambda c=direct, r=repo, o=outs["d"]: c.get_to_path(r, "main", "/", o))
            sync()
            r_get, _ = timed(lambda c=remote, r=repo, o=outs["r"]: c.get_to_path(r, "main", "/", o))
            same_files(src, outs["r"])
            same_files(src, outs["d"])
            for out in outs.values():
                rmtree(out)
            times[f"{ds} put"] = (d_put, r_put)
            times[f"{ds} get"] = (d_get, r_get)
            log(f"{ds}: put direct {d_put:.2f}s remote {r_put:.2f}s; get {d_get:.2f}s / {r_get:.2f}s")
        remote.close()
    direct.close()
    rmtree(d_home)
    rmtree(r_home)
    return times


def bench_remote_data(
    work: Path, src_a: Path, src_b: Path, reps: int = 1, datasets: str = "AB"
) -> list[dict[str, Any]]:
    """Rows ``{step, direct_s, remote_s, ratio, ok, median_ratio}`` for put and get of A and B.

    ``direct_s``/``remote_s``/``ratio``: best of ``reps`` each; ``median_ratio``: the median
    of the per-round ratios (direct and remote run side by side in each round, so a round's
    ratio saw the same machine load on both sides; the load is logged per round).
    """
    best: dict[str, tuple[float, float]] = {}
    ratios: dict[str, list[float]] = {}
    for i in range(reps):
        for step, (d, r) in one_round(work, src_a, src_b, datasets).items():
            old = best.get(step)
            best[step] = (d, r) if old is None else (min(old[0], d), min(old[1], r))
            ratios.setdefault(step, []).append(d / r)
        log(f"round {i + 1}/{reps} done, load average {os.getloadavg()[0]:.2f}")
    return [
        {
            "step": f"{step} (remote)",
            "direct_s": d,
            "remote_s": r,
            "ratio": d / r,
            "ok": d / r >= TARGET,
            "median_ratio": statistics.median(ratios[step]),
        }
        for step, (d, r) in best.items()
    ]


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench import FULL, QUICK, gen_a, gen_b

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--reps", type=int, default=1, help="alternating runs per step; best kept")
    parser.add_argument("--only", choices=["A", "B"], help="one dataset only")
    args = parser.parse_args(argv)
    datasets = args.only or "AB"
    sizes = QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    try:
        src_a, src_b = work / "A", work / "B"
        if "A" in datasets:
            gen_a(src_a, sizes)
        if "B" in datasets:
            gen_b(src_b, sizes)
        rows = bench_remote_data(work, src_a, src_b, args.reps, datasets)
    finally:
        if (work / "serve.log").exists():
            sys.stderr.write((work / "serve.log").read_text()[-3000:])
        rmtree(work)
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"remote vs direct (A = {sizes.a_files:,} files, B = {sizes.b_count} x {sizes.b_size / MiB:g} MiB)")
    for r in rows:
        print(
            f"  {r['step']:<18} direct {r['direct_s']:7.2f}s  remote {r['remote_s']:7.2f}s  "
            f"ratio {r['ratio']:.2f} (median of rounds {r['median_ratio']:.2f})  "
            f"(target ≥ {TARGET})  {'met' if r['ok'] else 'NOT MET'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
