"""CLI fixtures: a ``datavc`` runner against a fresh embedded store in ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.datavc.cli.helpers import Run, make_run


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def run(runner: CliRunner) -> Run:
    """Run the CLI with no store set up."""
    return make_run(runner)


@pytest.fixture
def store(tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``datavc init`` in ``tmp_path/store``; DATAVC_HOME points at it. Returns the store root.

    Jobs wait for ``datavc run`` (``--pipelines-run daemon``), so tests see each step; the
    inline default has its own tests (tests/datavc/cli/test_triggered.py).
    """
    root = tmp_path / "store"
    run("init", root, "--pipelines-run", "daemon")
    monkeypatch.setenv("DATAVC_HOME", str(root))
    return root


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A local directory: ``a.txt`` (6 bytes) and ``sub/b.txt`` (6 bytes)."""
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_bytes(b"hello\n")
    (d / "sub" / "b.txt").write_bytes(b"world\n")
    return d
