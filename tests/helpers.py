"""Helpers shared by every test package (plain functions; the fixtures are in ``conftest.py``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


def use_s3_endpoint(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point the standard AWS environment variables at ``endpoint`` with dummy credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)


def make_bucket(endpoint: str, name: str | None = None) -> str:
    """Create a bucket on ``endpoint`` (a unique name unless ``name`` is given); return its name."""
    import boto3

    name = name or f"test-{uuid.uuid4().hex[:16]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    client.close()
    return name


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``{relative path: content}`` below ``root`` (creating directories); returns ``root``."""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root
