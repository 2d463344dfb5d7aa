"""The fsspec filesystem ``datavc://repo@ref/path`` on a store opened directly: pandas, polars,
pyarrow datasets and DuckDB read commits through it; writes go to a branch."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from datavc.client import Client
from datavc.filesystem import DatavcFileSystem


@pytest.fixture
def store(tmp_path: Path) -> Client:
    c = Client.init(tmp_path / "store")
    c.create_repo("t")
    with c.commit("t", "main", "seed") as tx:
        tx.put_file("csv/a.csv", b"x,y\n1,2\n3,4\n")
        tx.put_file("blob.bin", bytes(range(256)) * 100)
    return c


@pytest.fixture
def fs(store: Client) -> DatavcFileSystem:
    return DatavcFileSystem(client=store, skip_instance_cache=True)


def test_registered_for_the_datavc_protocol(store: Client) -> None:
    assert fsspec.get_filesystem_class("datavc") is DatavcFileSystem
    home = store.context.home
    assert home is not None
    with fsspec.open("datavc://t@main/csv/a.csv", "rb", home=str(Path(home).parent)) as f:
        assert f.read() == b"x,y\n1,2\n3,4\n"


def test_ls_info_glob_find_and_seekable_range_reads(fs: DatavcFileSystem) -> None:
    assert fs.ls("datavc://t@main", detail=False) == ["t@main/blob.bin", "t@main/csv"]
    assert fs.info("t@main/csv")["type"] == "directory"
    assert fs.info("t@main/blob.bin")["size"] == 25600
    assert fs.glob("t@main/**/*.csv") == ["t@main/csv/a.csv"]
    assert fs.find("t@main") == ["t@main/blob.bin", "t@main/csv/a.csv"]
    with fs.open("t@main/blob.bin", "rb", block_size=1024) as f:
        f.seek(25000)
        assert f.read(4) == bytes([25000 % 256, 25001 % 256, 25002 % 256, 25003 % 256])
        f.seek(10)
        assert f.read(2) == bytes([10, 11])
    assert fs.cat_file("t@main/blob.bin", 256, 260) == bytes([0, 1, 2, 3])
    with pytest.raises(FileNotFoundError):
        fs.info("t@main/nope")


def test_each_write_is_a_commit_and_a_transaction_is_one(fs: DatavcFileSystem, store: Client) -> None:
    before = store.inspect_commit("t", "main").id
    with fs.open("t@main/one.txt", "wb") as f:
        f.write(b"one")
    first = store.inspect_commit("t", "main")
    assert first.parent == before and store.get_file("t", "main", "one.txt") == b"one"
    with fs.transaction:
        for i in range(3):
            with fs.open(f"t@main/many/{i}.txt", "wb") as f:
                f.write(b"%d" % i)
        fs.rm("t@main/one.txt")
    second = store.inspect_commit("t", "main")
    assert second.parent == first.id
    assert sorted(p.path for p in store.walk_files("t", "main", "/many")) == [
        f"/many/{i}.txt" for i in range(3)
    ]
    with pytest.raises(RuntimeError), fs.transaction:
        with fs.open("t@main/aborted.txt", "wb") as f:
            f.write(b"no")
        raise RuntimeError("boom")
    assert store.inspect_commit("t", "main").id == second.id


def test_pandas_polars_pyarrow_and_duckdb(fs: DatavcFileSystem, store: Client) -> None:
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    with fs.open("t@main/csv/a.csv", "rb") as f:
        assert pd.read_csv(f).to_dict("list") == {"x": [1, 3], "y": [2, 4]}
    frame = pd.DataFrame({"n": range(100)})
    with fs.open("t@main/pq/part-0.parquet", "wb") as f:
        frame.to_parquet(f)
    commit = store.inspect_commit("t", "main").id
    with fs.open(f"t@{commit}/pq/part-0.parquet", "rb") as f:
        assert pl.read_parquet(f)["n"].sum() == 4950
    dataset = ds.dataset(f"t@{commit}/pq", filesystem=fs, format="parquet")
    assert dataset.to_table().num_rows == 100
    con = duckdb.connect()
    con.register_filesystem(fs)
    assert con.execute(
        f"SELECT sum(n) FROM read_parquet('datavc://t@{commit}/pq/part-0.parquet')"
    ).fetchone() == (4950,)
