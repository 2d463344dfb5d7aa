"""Fixtures shared by the pipeline tests (here and in ``executors/``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.datavc.pipelines.test_reliability import Scheduler


@pytest.fixture
def schedulers() -> Iterator[list[Scheduler]]:
    """Scheduler subprocesses the test starts (``test_reliability.start`` appends them); any
    still running is killed at teardown."""
    started: list[Scheduler] = []
    yield started
    for s in started:
        s.close()
