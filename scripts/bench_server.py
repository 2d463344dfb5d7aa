#!/usr/bin/env python3
"""Load on one ``datavc serve``: N concurrent clients doing mixed puts, gets, lists and logs.

Each client is a thread with its own ``RemoteClient`` (its own keep-alive connection) and
its own token (a writer on every repo). For ``--seconds`` (default 60) each picks, at
random (seeded), one of: put a small file (a new commit on one of a few shared repos, so
writers race on the same branches), get a file it put earlier, list a directory, or read
the log. Every request's latency is recorded; any failed request is counted and printed.
When the time is up every client stops (bounded: a request in flight finishes, nothing
new starts), and every file any client committed is read back and compared: nothing may
be lost. Prints requests/s and p50/p99 latency per operation and overall; exits 1 if a
request failed or a file was lost. A benchmark, not a test.

    python scripts/bench_server.py [--clients 50] [--seconds 60] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench_remote import serve
from benchlib import log, rmtree

from datavc import accounts
from datavc.client import Client
from datavc.remote import RemoteClient

REPOS = 5
OPS = ("put", "get", "ls", "log")
WEIGHTS = (3, 4, 2, 1)


@dataclass
class Worker:
    """One client's records: latencies per operation, failures, and what it committed."""

    n: int
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)
    committed: dict[tuple[str, str], bytes] = field(default_factory=dict)


def work(w: Worker, url: str, token: str, stop: threading.Event, seed: int) -> None:
    rnd = random.Random(seed)
    with RemoteClient(url, token) as c:
        i = 0
        while not stop.is_set():
            op = rnd.choices(OPS, WEIGHTS)[0]
            if op == "get" and not w.committed:
                op = "put"
            t0 = time.perf_counter()
            try:
                if op == "put":
                    repo = f"load{rnd.randrange(REPOS)}"
                    path = f"/c{w.n:03d}/f{i:06d}"
                    data = rnd.randbytes(rnd.randint(100, 16_384))
                    c.put_file(repo, "main", path, data)
                    w.committed[(repo, path)] = data
                    i += 1
                elif op == "get":
                    repo, path = rnd.choice(list(w.committed))
                    if c.get_file(repo, "main", path) != w.committed[(repo, path)]:
                        w.failures.append(f"get {repo}:{path}: wrong content")
                elif op == "ls":
                    list(c.list_files(f"load{rnd.randrange(REPOS)}", "main", "/"))
                else:
                    list(c.log(f"load{rnd.randrange(REPOS)}", "main", limit=20))
            except Exception as err:  # a benchmark records every failure, whatever its kind
                w.failures.append(f"{op}: {type(err).__name__}: {err}")
            w.latencies[op].append(time.perf_counter() - t0)


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--db", help="metadata database URL (default: SQLite in the store)")
    args = parser.parse_args(argv)
    work_dir = Path(tempfile.mkdtemp(prefix="bench-server-"))
    home = work_dir / "store"
    try:
        direct = Client.init(home, db=args.db)
        accounts.create_user(direct.context, "admin", admin=True)
        admin_tok = accounts.create_token(direct.context, "admin").secret
        tokens = []
        for n in range(args.clients):
            accounts.create_user(direct.context, f"load{n}")
            tok = accounts.create_token(direct.context, f"load{n}")
            assert tok.secret is not None
            tokens.append(tok.secret)
        for r in range(REPOS):
            direct.create_repo(f"load{r}")
            direct.put_file(f"load{r}", "main", "/README", b"load\n")
            for n in range(args.clients):
                accounts.grant_role(direct.context, f"load{r}", f"load{n}", "writer")
        direct.close()
        with serve(home, work_dir / "serve.log", admin_tok) as (url, admin):
            stop = threading.Event()
            workers = [Worker(n) for n in range(args.clients)]
            threads = [
                threading.Thread(target=work, args=(w, url, tokens[w.n], stop, 1000 + w.n), daemon=True)
                for w in workers
            ]
            log(f"{args.clients} clients for {args.seconds:g}s against {url}")
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            time.sleep(args.seconds)
            stop.set()
            for t in threads:
                t.join(timeout=120)
            elapsed = time.perf_counter() - t0
            stuck = sum(t.is_alive() for t in threads)
            log("reading back every committed file")
            lost: list[str] = []
            with RemoteClient(url, admin) as c:
                for w in workers:
                    for (repo, path), data in w.committed.items():
                        try:
                            if c.get_file(repo, "main", path) != data:
                                lost.append(f"{repo}:{path} has other content")
                        except Exception as err:  # recorded, like every failure
                            lost.append(f"{repo}:{path}: {type(err).__name__}: {err}")
                commits = sum(len(list(c.log(f"load{r}", "main"))) for r in range(REPOS))
        failures = [f for w in workers for f in w.failures]
        by_op: dict[str, list[float]] = defaultdict(list)
        for w in workers:
            for op, xs in w.latencies.items():
                by_op[op].extend(xs)
        every = [x for xs in by_op.values() for x in xs]
        files = sum(len(w.committed) for w in workers)
        print(
            f"datavc serve under load: {args.clients} clients, {elapsed:.0f}s, "
            f"{'PostgreSQL' if args.db else 'SQLite'}, {os.cpu_count()} CPUs, loopback"
        )
        print(f"  {'op':<6} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for op in (*OPS, "all"):
            xs = every if op == "all" else by_op.get(op, [])
            print(
                f"  {op:<6} {len(xs):>9} {len(xs) / elapsed:>8.1f} "
                f"{pct(xs, 50) * 1000:>8.1f} {pct(xs, 99) * 1000:>8.1f}"
            )
        print(f"  committed files: {files} (commits on the shared branches: {commits})")
        print(f"  read back: {files - len(lost)} of {files} intact; failed requests: {len(failures)}")
        for f in (failures + lost)[:20]:
            print(f"  FAIL {f}")
        if stuck:
            print(f"  FAIL {stuck} clients did not stop")
        return 1 if failures or lost or stuck else 0
    finally:
        rmtree(work_dir)


if __name__ == "__main__":
    sys.exit(main())
