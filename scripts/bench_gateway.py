#!/usr/bin/env python3
"""Benchmark the S3 gateway against ``datavc get``, in one run, on one embedded store.

Rows:

1. a 1 GiB file: ``datavc get`` (the CLI, a subprocess) vs the gateway read by boto3 as
   one GET stream and as boto3's parallel ranged download (``download_file``); target:
   the gateway at >= 0.7x ``datavc get``. Outputs are compared byte for byte.
2. ListObjectsV2 over a prefix of 200,000 keys (pages of 1000) through the gateway: keys/s
   and the server process's peak RSS (VmHWM) before and after the listing, to show the
   listing holds memory bounded.

The server is ``datavc serve`` in a subprocess (so its RSS is its own). ``--quick`` for a
smoke run (64 MiB, 20,000 keys); ``--json`` to also print the results as JSON. Exits 1 if
a correctness check fails; a missed target is reported (exit status 0).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import check, free_port, log, mib_s, timed, write_random

from datavc import accounts, s3keys
from datavc.client import Client

BIN = Path(sys.executable).parent / "datavc"
GiB = 1024**3


def vm_hwm(pid: int) -> int:
    """Peak resident set size of ``pid`` in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def vm_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def build_many(c: Client, root: Path, count: int) -> None:
    """``count`` tiny files under /many in one directory put (packed into shared chunks)."""
    d = root / "many"
    d.mkdir(parents=True)
    for i in range(count):
        (d / f"k{i:07d}").write_bytes(b"%d" % i)
    c.put_file("bench", "main", "/many", d, message="many keys")


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("datavc serve exited early")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        except OSError as err:
            if "403" in str(err) or "HTTP Error" in str(err):
                return
            time.sleep(0.2)
            continue
        return
    raise SystemExit("the gateway did not start")


def run(work: Path, size: int, keys: int) -> dict[str, Any]:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    home = work / "store"
    c = Client.init(home)
    c.create_repo("bench")
    accounts.create_user(c.context, "bench", admin=True)
    key = s3keys.create_key(c.context, "bench")
    big = work / "big.bin"
    log(f"writing {size / GiB:.2f} GiB of random bytes")
    write_random(big, size)
    c.put_file("bench", "main", "/big.bin", big, message="big")
    log(f"building {keys:,} keys under /many")
    build_many(c, work / "src", keys)
    c.close()

    api_port, s3_port = free_port(), free_port()
    server = subprocess.Popen(
        [
            str(BIN),
            "--home",
            str(home),
            "serve",
            "--port",
            str(api_port),
            "--s3-port",
            str(s3_port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(work / "serve.log", "wb"),  # noqa: SIM115
    )
    results: dict[str, Any] = {"size_bytes": size, "keys": keys}
    try:
        wait_port(s3_port, server)
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        out_get = work / "out-get"
        t_get, _ = timed(
            lambda: subprocess.run(
                [str(BIN), "--home", str(home), "get", "bench@main:/big.bin", "-o", str(out_get)], check=True
            )
        )
        out_stream = work / "out-stream.bin"

        def one_stream() -> None:
            body = s3.get_object(Bucket="bench", Key="main/big.bin")["Body"]
            with open(out_stream, "wb") as f:
                for piece in body.iter_chunks(1024 * 1024):
                    f.write(piece)

        t_stream, _ = timed(one_stream)
        out_ranged = work / "out-ranged.bin"
        cfg = TransferConfig(multipart_chunksize=64 * 1024 * 1024, max_concurrency=4)
        t_ranged, _ = timed(lambda: s3.download_file("bench", "main/big.bin", str(out_ranged), Config=cfg))
        got = out_get / "big.bin" if out_get.is_dir() else out_get
        check(filecmp.cmp(big, got, shallow=False), "datavc get output differs")
        check(filecmp.cmp(big, out_stream, shallow=False), "gateway stream output differs")
        check(filecmp.cmp(big, out_ranged, shallow=False), "gateway ranged output differs")
        results.update(
            get_s=t_get,
            get_mib_s=mib_s(size, t_get),
            gateway_stream_s=t_stream,
            gateway_stream_mib_s=mib_s(size, t_stream),
            gateway_ranged_s=t_ranged,
            gateway_ranged_mib_s=mib_s(size, t_ranged),
            stream_ratio=t_get / t_stream,
            ranged_ratio=t_get / t_ranged,
        )
        hwm_before, rss_before = vm_hwm(server.pid), vm_rss(server.pid)
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix="main/many/")

        def list_all() -> int:
            return sum(p.get("KeyCount", 0) for p in pages)

        t_list, n = timed(list_all)
        check(n == keys, f"listed {n} keys, expected {keys}")
        results.update(
            list_s=t_list,
            list_keys_s=keys / t_list,
            server_rss_before=rss_before,
            server_hwm_before=hwm_before,
            server_hwm_after=vm_hwm(server.pid),
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="64 MiB and 20,000 keys")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--workdir", type=Path, help="keep the data here (default: a temporary directory)")
    args = parser.parse_args(argv)
    size, keys = (64 * 1024 * 1024, 20_000) if args.quick else (GiB, 200_000)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        r = run(Path(tmp), size, keys)
    mib = 1024 * 1024
    rows = [
        ("datavc get (CLI)", f"{r['get_s']:.2f} s", f"{r['get_mib_s']:.0f} MiB/s", ""),
        (
            "gateway, one GET stream",
            f"{r['gateway_stream_s']:.2f} s",
            f"{r['gateway_stream_mib_s']:.0f} MiB/s",
            f"{r['stream_ratio']:.2f}x get (target >= 0.7x)",
        ),
        (
            "gateway, boto3 download_file",
            f"{r['gateway_ranged_s']:.2f} s",
            f"{r['gateway_ranged_mib_s']:.0f} MiB/s",
            f"{r['ranged_ratio']:.2f}x get",
        ),
        (
            f"ListObjectsV2, {r['keys']:,} keys",
            f"{r['list_s']:.2f} s",
            f"{r['list_keys_s']:,.0f} keys/s",
            f"server peak RSS {r['server_hwm_before'] / mib:.0f} -> {r['server_hwm_after'] / mib:.0f} MiB",
        ),
    ]
    print(f"\nS3 gateway, {r['size_bytes'] / mib:.0f} MiB file, {r['keys']:,} keys")
    for row in rows:
        print(f"  {row[0]:<34} {row[1]:>10} {row[2]:>14}  {row[3]}")
    if args.json:
        print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
