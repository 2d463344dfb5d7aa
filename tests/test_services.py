"""The shared test services (see conftest.py) are real, fresh per test and isolated."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

_seen_buckets: set[str] = set()
_seen_databases: set[str] = set()


def test_isolation_hides_developer_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert Path(os.environ["HOME"]).is_relative_to(tmp_path_factory.getbasetemp())
    assert [k for k in os.environ if k.startswith("DATAVC_") and k != "DATAVC_TEST_PG_URL"] == []
    assert [k for k in os.environ if k.startswith("AWS_")] == ["AWS_EC2_METADATA_DISABLED"]


@pytest.mark.parametrize("run", [1, 2])
def test_s3_bucket_is_fresh_and_usable_through_url_and_env_only(run: int, s3_url: str) -> None:
    parts = urlsplit(s3_url)
    assert parts.scheme == "s3"
    bucket, prefix = parts.netloc, parts.path.strip("/")
    assert prefix
    assert bucket not in _seen_buckets
    _seen_buckets.add(bucket)

    # Only the standard environment configures the client, as with MinIO or AWS.
    client = boto3.client("s3")
    try:
        assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
        client.put_object(Bucket=bucket, Key=f"{prefix}/probe", Body=b"run %d" % run)
        body = client.get_object(Bucket=bucket, Key=f"{prefix}/probe")["Body"].read()
        assert body == b"run %d" % run
    finally:
        client.close()


@pytest.mark.parametrize("run", [1, 2])
def test_pg_database_is_fresh_and_usable(run: int, pg_url: str) -> None:
    url = sa.make_url(pg_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.database is not None
    assert url.database not in _seen_databases
    _seen_databases.add(url.database)

    engine = sa.create_engine(pg_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        metadata = sa.MetaData()
        items = sa.Table(
            "items",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(50), nullable=False),
        )
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(items), [{"name": f"a{run}"}, {"name": f"b{run}"}])
        with engine.connect() as conn:
            names = conn.execute(sa.select(items.c.name).order_by(items.c.id)).scalars().all()
        assert names == [f"a{run}", f"b{run}"]
    finally:
        engine.dispose()


def test_stopped_factory_server_refuses_connections(s3_server_factory: Callable[[], Any]) -> None:
    server = s3_server_factory()
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=2),
    )
    try:
        client.create_bucket(Bucket="doomed")
        client.put_object(Bucket="doomed", Key="k", Body=b"v")

        server.stop()

        assert not server.running
        with pytest.raises(EndpointConnectionError):
            client.get_object(Bucket="doomed", Key="k")
    finally:
        client.close()


def test_factory_servers_are_independent_of_the_session_server(
    s3_endpoint: str, s3_server_factory: Callable[[], Any]
) -> None:
    a, b = s3_server_factory(), s3_server_factory()
    assert len({s3_endpoint, a.endpoint, b.endpoint}) == 3
    a.stop()
    assert b.running
