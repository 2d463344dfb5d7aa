"""Compare-and-swap retries are bounded: a writer that keeps losing gets a Conflict, not a hang."""

from __future__ import annotations

import pytest

from datavc.db import cas
from datavc.errors import Conflict


def test_retrying_returns_the_first_result_and_backs_off_between_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(cas.time, "sleep", sleeps.append)
    results = iter([None, None, "won"])
    assert cas.retrying(lambda: next(results), "test") == "won"
    assert len(sleeps) == 2 and all(0 <= s <= cas.BACKOFF_CAP for s in sleeps)


def test_retrying_gives_up_with_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cas.time, "sleep", lambda s: None)
    calls = []

    def lose() -> None:
        calls.append(1)

    with pytest.raises(Conflict, match="gave up after 100 attempts"):
        cas.retrying(lose, "finishing commit x")
    assert len(calls) == cas.ATTEMPTS == 100
