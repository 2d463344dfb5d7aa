"""CLI fixtures: a ``datavc`` runner against a fresh embedded store in ``tmp_path``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from datavc.cli import main

Run = Callable[..., Result]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def make_run(runner: CliRunner) -> Run:
    def run(*args: str | os.PathLike[str], input: bytes | str | None = None, code: int | None = 0) -> Result:
        """Run ``datavc ARGS``; assert the exit code (unless ``code`` is None)."""
        argv: Sequence[str] = [os.fspath(a) for a in args]
        result = runner.invoke(main, argv, input=input, catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (argv, result.exit_code, result.stdout, result.stderr)
        return result

    return run


@pytest.fixture
def run(runner: CliRunner) -> Run:
    """Run the CLI with no store set up."""
    return make_run(runner)


@pytest.fixture
def store(tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``datavc init`` in ``tmp_path/store``; DATAVC_HOME points at it. Returns the store root."""
    root = tmp_path / "store"
    run("init", root)
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


def assert_error(result: Result, code: int) -> str:
    """The run failed with ``code`` and one ``error: ...`` line on stderr (no traceback); returns it."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr
