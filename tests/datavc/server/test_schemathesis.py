"""Schemathesis against /openapi.json, in process (ASGI): no 5xx, and every response matches its schema.

A few examples per operation keep it fast; run it with more by raising ``EXAMPLES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from datavc import accounts
from datavc.client import Client
from datavc.server.app import create_app

EXAMPLES = 3
TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    client = Client.init(Path(tmp_path_factory.mktemp("schemathesis")) / "store")
    accounts.create_user(client.context, "admin", admin=True)
    secret = accounts.create_token(client.context, "admin").secret
    assert secret is not None
    TOKEN["admin"] = secret
    client.create_repo("r")
    client.put_file("r", "main", "/f.txt", b"data")
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(client))
    client.close()


def test_no_server_errors_and_responses_match_their_schema(api_schema: Any) -> None:
    """Every operation of the document, ``EXAMPLES`` generated cases each, as the admin."""
    headers = {"Authorization": f"Bearer {TOKEN['admin']}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 35
    calls = 0

    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            nonlocal calls
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            calls += 1

        check()
    print(f"schemathesis: {len(operations)} operations, {calls} calls")
    assert calls >= len(operations)
