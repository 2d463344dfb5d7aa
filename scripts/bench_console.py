#!/usr/bin/env python3
"""Server time of every console page on a big repo (``bench.py``'s scale repo, or one made here).

Each page is requested in-process (Starlette's TestClient over the real app: routing,
session check, services, templates) three times; the median is its server time. The
target is 200 ms for every page. ``bench.py`` adds the slowest page as a row of its
scale table; run this file alone for the per-page figures::

    python scripts/bench_console.py            # 200,000 files in 1,000 dirs
    python scripts/bench_console.py --files 20000 --dirs 100
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

from datavc import accounts
from datavc.client import Client
from datavc.errors import AlreadyExists

TARGET_S = 0.2
REPS = 3
USER = "bench-console"


def page_times(home: Path, repo: str) -> dict[str, float]:
    """Median server seconds of each console page over ``repo`` (its ``main`` branch)."""
    from starlette.testclient import TestClient

    from datavc.server.app import create_app

    client = Client.open(home)
    try:
        try:
            accounts.create_user(client.context, USER, admin=True)
        except AlreadyExists:
            pass
        tok = accounts.create_token(client.context, USER, name="bench")
        assert tok.secret is not None
        top = next(iter(client.list_files(repo, "main", "/")))
        some_dir = top.path if top.kind == "dir" else "/"
        some_file = next(f for f in client.list_files(repo, "main", some_dir, recursive=True))
        d, f = some_dir.strip("/"), some_file.path.strip("/")
        older = list(islice(client.log(repo, "main"), 3))[-1].id
        pages = {
            "repos": "/ui/",
            "repo (log)": f"/ui/repos/{repo}",
            "commit + diff": f"/ui/repos/{repo}/commits/main",
            "diff vs an older commit": f"/ui/repos/{repo}/commits/main?against={older}",
            "tree /": f"/ui/repos/{repo}/tree/main",
            f"tree /{d}": f"/ui/repos/{repo}/tree/main/{d}",
            "file preview": f"/ui/repos/{repo}/tree/main/{f}",
            "file history": f"/ui/repos/{repo}/history/main/{f}",
            "download": f"/ui/repos/{repo}/raw/main/{f}",
            "lineage": f"/ui/repos/{repo}/lineage?ref=main",
            "pipelines": "/ui/pipelines",
            "audit": "/ui/audit",
        }
        out: dict[str, float] = {}
        with TestClient(create_app(client), base_url="http://127.0.0.1") as http:
            form = http.get("/ui/login").text
            m = re.search(r'name="csrf" value="([^"]+)"', form)
            assert m is not None
            resp = http.post(
                "/ui/login", data={"token": tok.secret, "csrf": m.group(1)}, follow_redirects=False
            )
            assert resp.status_code == 303, resp.text
            for name, url in pages.items():
                runs = []
                for _ in range(REPS):
                    t0 = time.perf_counter()
                    resp = http.get(url)
                    runs.append(time.perf_counter() - t0)
                    if resp.status_code != 200:
                        raise RuntimeError(f"{url}: {resp.status_code} {resp.text[:300]}")
                out[name] = statistics.median(runs)
        accounts.revoke_token(client.context, tok.id)
        return out
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--dirs", type=int, default=1_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        src = Path(tmp) / "src"
        per_dir = args.files // args.dirs
        n = 0
        for d in range(args.dirs):
            sub = src / f"d{d:04d}"
            sub.mkdir(parents=True)
            for _ in range(per_dir):
                (sub / f"f{n:07d}.txt").write_bytes(b"file %d\n" % n)
                n += 1
        home = Path(tmp) / "store"
        with Client.init(home) as c:
            c.create_repo("big")
            t0 = time.perf_counter()
            c.put_file("big", "main", "/", src)
            for i in range(3):  # a short history: the log, the diff and the file history have work
                c.put_file("big", "main", f"/d0000/f{i:07d}.txt", b"changed %d\n" % i)
            print(f"built {n:,} files in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        times = page_times(home, "big")
    width = max(len(k) for k in times)
    print(f"console page server time, {n:,}-file repo (median of {REPS}; target ≤ {TARGET_S * 1000:.0f} ms)")
    for name, s in times.items():
        print(f"  {name:<{width}}  {s * 1000:7.1f} ms  {'ok' if s <= TARGET_S else 'SLOW'}")
    return 0 if max(times.values()) <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
