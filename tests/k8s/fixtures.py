"""Pytest fixture for the fake Kubernetes API server, registered for every test package by
``pytest_plugins`` in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.k8s.fake_apiserver import FakeApiServer


@pytest.fixture
def fake_k8s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApiServer]:
    """A started FakeApiServer; ``$KUBECONFIG`` points at it (``server.kubeconfig_path``).

    Every pod subprocess is killed and the server stopped at teardown."""
    server = FakeApiServer()
    server.start()
    try:
        path = server.kubeconfig(tmp_path / "kubeconfig")
        server.kubeconfig_path = path
        monkeypatch.setenv("KUBECONFIG", str(path))
        yield server
    finally:
        server.stop()
