"""Off-the-shelf S3 clients against a running gateway: minio, the AWS CLI, rclone, s3cmd,
s3fs with pandas and polars, DuckDB. Each does real work and the bytes are compared."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.datavc.server.s3.conftest import Gateway

TREE = {
    "top.txt": b"top\n",
    "a/one.csv": b"k,v\n1,one\n",
    "a/b/two.bin": os.urandom(70_000),
    "a-b.txt": b"dash sorts before slash\n",
    "sp ace/name with spaces.txt": b"spaces\n",
}


def _write_tree(root: Path, extra: dict[str, bytes] | None = None) -> Path:
    for rel, data in {**TREE, **(extra or {})}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def _read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _branch(gw: Gateway, name: str) -> None:
    """A branch of ``data`` whose files are the seed files (for clients that only add)."""
    gw.direct.create_branch("data", name, "main")


def _repo(gw: Gateway, name: str) -> str:
    """An empty repo ``name`` (bucket) that alice may write, for clients that sync whole trees."""
    from datavc import accounts

    gw.direct.create_repo(name)
    accounts.grant_role(gw.direct.context, name, "alice", "writer")
    return name


def _tool(name: str) -> str:
    """The path of a command-line client; fail (never skip) with how to install it."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        how = "pip install awscli" if name == "aws" else f"apt-get install {name}"
        pytest.fail(f"{name} is not installed: {how} (scripts/test.sh does)")
    return found


def _run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120)
    assert out.returncode == 0, f"{cmd[0]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _aws_env(gw: Gateway, tmp: Path) -> dict[str, str]:
    ak, sk = gw.keys["alice"]
    cfg = tmp / "aws-config"
    cfg.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    return {
        "AWS_ACCESS_KEY_ID": ak,
        "AWS_SECRET_ACCESS_KEY": sk,
        "AWS_CONFIG_FILE": str(cfg),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
    }


def test_minio_sdk(gateway: Gateway, tmp_path: Path) -> None:
    from minio import Minio

    _branch(gateway, "mn")
    ak, sk = gateway.keys["alice"]
    m = Minio(
        gateway.url.removeprefix("http://"), access_key=ak, secret_key=sk, secure=False, region="us-east-1"
    )
    assert m.bucket_exists("data")
    big = os.urandom(6 * 1024 * 1024 + 7)
    src = tmp_path / "big.bin"
    src.write_bytes(big)
    m.fput_object("data", "mn/big.bin", str(src), part_size=5 * 1024 * 1024)  # multipart
    import io

    m.put_object("data", "mn/small.txt", io.BytesIO(b"small"), length=5)
    assert gateway.direct.get_file("data", "mn", "big.bin") == big
    resp = m.get_object("data", "mn/big.bin", offset=10, length=100)
    try:
        assert resp.read() == big[10:110]
    finally:
        resp.close()
        resp.release_conn()
    names = [o.object_name for o in m.list_objects("data", prefix="mn/", recursive=True)]
    assert "mn/big.bin" in names and "mn/small.txt" in names
    assert m.stat_object("data", "mn/small.txt").size == 5
    m.remove_object("data", "mn/small.txt")
    assert "small.txt" not in [f.path.lstrip("/") for f in gateway.direct.walk_files("data", "mn")]


def test_aws_cli_cp_recursive_ls_and_sync(gateway: Gateway, tmp_path: Path) -> None:
    aws = _tool("aws")
    _repo(gateway, "awsb")
    src = _write_tree(tmp_path / "src", {"big/nine.bin": os.urandom(9 * 1024 * 1024)})  # > 8 MiB: multipart
    env = _aws_env(gateway, tmp_path)
    ep = ["--endpoint-url", gateway.url]
    _run([aws, *ep, "s3", "cp", "--recursive", str(src), "s3://awsb/main/"], env)
    listing = _run([aws, *ep, "s3", "ls", "--recursive", "s3://awsb/main/"], env)
    assert "main/a/b/two.bin" in listing and "main/sp ace/name with spaces.txt" in listing
    out = tmp_path / "out"
    _run([aws, *ep, "s3", "sync", "s3://awsb/main/", str(out)], env)
    assert _read_tree(out) == _read_tree(src)
    # sync up a change and a deletion, then back down: only the differences move.
    (src / "top.txt").write_bytes(b"changed top\n")
    (src / "a" / "one.csv").unlink()
    _run([aws, *ep, "s3", "sync", "--delete", str(src), "s3://awsb/main/"], env)
    _run([aws, *ep, "s3", "sync", "--delete", "s3://awsb/main/", str(out)], env)
    assert _read_tree(out) == _read_tree(src)
    assert gateway.direct.get_file("awsb", "main", "top.txt") == b"changed top\n"


def test_rclone_sync_into_a_branch_and_back(gateway: Gateway, tmp_path: Path) -> None:
    rclone = _tool("rclone")
    _repo(gateway, "rc")
    ak, sk = gateway.keys["alice"]
    conf = tmp_path / "rclone.conf"
    conf.write_text(
        "[gw]\ntype = s3\nprovider = Other\n"
        f"access_key_id = {ak}\nsecret_access_key = {sk}\nendpoint = {gateway.url}\n"
        "region = us-east-1\nforce_path_style = true\n"
    )
    src = _write_tree(tmp_path / "src")
    base = [rclone, "--config", str(conf), "--retries", "1", "--low-level-retries", "1"]
    _run([*base, "sync", str(src), "gw:rc/main/"])
    out = tmp_path / "out"
    _run([*base, "sync", "gw:rc/main/", str(out)])
    assert _read_tree(out) == _read_tree(src)
    (src / "top.txt").unlink()
    _run([*base, "sync", str(src), "gw:rc/main/"])
    assert "top.txt" not in [f.path.lstrip("/") for f in gateway.direct.walk_files("rc", "main")]
    _run([*base, "check", str(src), "gw:rc/main/"])


def test_s3cmd_sync_into_a_branch_and_back(gateway: Gateway, tmp_path: Path) -> None:
    s3cmd = _tool("s3cmd")
    _repo(gateway, "s3c")
    ak, sk = gateway.keys["alice"]
    host = gateway.url.removeprefix("http://")
    conf = tmp_path / "s3cfg"
    conf.write_text(
        f"[default]\naccess_key = {ak}\nsecret_key = {sk}\nhost_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
    )
    src = _write_tree(tmp_path / "src")
    base = [s3cmd, "-c", str(conf), "--no-progress"]
    _run([*base, "sync", f"{src}/", "s3://s3c/main/"])
    out = tmp_path / "out"
    out.mkdir()
    _run([*base, "sync", "s3://s3c/main/", f"{out}/"])
    assert _read_tree(out) == _read_tree(src)
    assert "s3://s3c/main/a/b/two.bin" in _run([*base, "ls", "--recursive", "s3://s3c/main/"])


def _s3fs_options(gw: Gateway, user: str = "alice") -> dict[str, Any]:
    ak, sk = gw.keys[user]
    return {"key": ak, "secret": sk, "client_kwargs": {"endpoint_url": gw.url, "region_name": "us-east-1"}}


def test_pandas_and_polars_through_s3fs(gateway: Gateway) -> None:
    import pandas as pd
    import polars as pl

    _branch(gateway, "pd")
    so = _s3fs_options(gateway)
    df = pd.read_csv("s3://data/main/dir/b.csv", storage_options=so)
    assert df.to_dict("list") == {"x": [1, 3], "y": [2, 4]}
    frame = pd.DataFrame({"n": list(range(1000)), "s": [f"v{i}" for i in range(1000)]})
    frame.to_parquet("s3://data/pd/out/frame.parquet", storage_options=so, engine="pyarrow")
    commit = gateway.direct.inspect_commit("data", "pd").id
    back = pd.read_parquet(f"s3://data/{commit}/out/frame.parquet", storage_options=so)
    assert back.equals(frame)
    ak, sk = gateway.keys["alice"]
    native = {  # polars' own object store client, not fsspec
        "aws_access_key_id": ak,
        "aws_secret_access_key": sk,
        "aws_endpoint_url": gateway.url,
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
    }
    pl_df = pl.read_csv("s3://data/main/dir/b.csv", storage_options=native)
    assert pl_df.to_dict(as_series=False) == {"x": [1, 3], "y": [2, 4]}
    import s3fs

    fs = s3fs.S3FileSystem(**so)
    with fs.open(f"data/{commit}/out/frame.parquet", "rb") as f:
        assert pl.read_parquet(f)["n"].sum() == sum(range(1000))
    assert pl.read_parquet(f"s3://data/{commit}/out/frame.parquet", storage_options=native).height == 1000


def test_duckdb_reads_parquet_from_a_commit(gateway: Gateway) -> None:
    """DuckDB's own S3 support (httpfs) is an extension it downloads on first use; offline it
    cannot load, so DuckDB reads through fsspec (``register_filesystem``) instead."""
    import duckdb
    import pandas as pd
    import s3fs

    _branch(gateway, "dk")
    so = _s3fs_options(gateway)
    pd.DataFrame({"n": [1, 2, 3]}).to_parquet("s3://data/dk/t.parquet", storage_options=so)
    commit = gateway.direct.inspect_commit("data", "dk").id
    con = duckdb.connect()
    con.register_filesystem(s3fs.S3FileSystem(**so))
    total = con.execute(f"SELECT sum(n) FROM read_parquet('s3://data/{commit}/t.parquet')").fetchone()
    assert total == (6,)
