"""Helpers shared by the CLI tests: run ``datavc`` in-process and check its errors."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from click.testing import CliRunner, Result

from datavc.cli import main

Run = Callable[..., Result]


def make_run(runner: CliRunner) -> Run:
    """A ``run(*args, input=None, code=0)`` that invokes the CLI in-process through ``runner``."""

    def run(*args: str | os.PathLike[str], input: bytes | str | None = None, code: int | None = 0) -> Result:
        """Run ``datavc ARGS``; assert the exit code (unless ``code`` is None)."""
        argv: Sequence[str] = [os.fspath(a) for a in args]
        result = runner.invoke(main, argv, input=input, catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (argv, result.exit_code, result.stdout, result.stderr)
        return result

    return run


def assert_error(result: Result, code: int) -> str:
    """The run failed with ``code`` and one ``error: ...`` line on stderr (no traceback); returns it."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr
