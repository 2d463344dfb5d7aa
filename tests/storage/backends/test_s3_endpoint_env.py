"""S3Backend builds one boto3 client when the endpoint comes from the environment (a faster CLI start)."""

from __future__ import annotations

import pytest

from storage.backends.s3 import S3Backend


@pytest.mark.parametrize("var", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_an_endpoint_from_the_environment_costs_one_client(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    made: list[bool] = []
    original = S3Backend._make_client

    def counting(self: S3Backend, endpoint_url: str | None, *, path_style: bool) -> object:
        made.append(path_style)
        return original(self, endpoint_url, path_style=path_style)

    monkeypatch.setattr(S3Backend, "_make_client", counting)
    b = S3Backend("s3://bucket/prefix")
    try:
        assert made == [True]
        assert b.endpoint == "http://127.0.0.1:9"
        assert b.raw_client.meta.config.s3["addressing_style"] == "path"
    finally:
        b.close()
