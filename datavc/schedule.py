"""Cron schedules and sizes, as Pachyderm writes them in cron inputs and branch triggers.

A schedule is a cron expression (``*/10 * * * *``, five or six fields, via ``croniter``)
or ``@every <Go duration>`` (``@every 10s``) as in Pachyderm's cron inputs, or one of
``@hourly``, ``@daily``... A size is a number of bytes with an optional unit: ``K``,
``M``, ``G``, ``T`` (powers of 1000, also written ``KB``...) or ``Ki``, ``Mi``... (powers
of 1024), as Pachyderm's triggers read them.

Pure functions of their inputs: they sit low (``datavc.heads`` uses them when a commit
fires a branch trigger).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from datavc.errors import InvalidArgument

_EVERY_RE = re.compile(r"@every\s+(\S+)")
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?\s*", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def _every(spec: str) -> timedelta | None:
    m = _EVERY_RE.fullmatch(spec.strip())
    if m is None:
        return None
    text, pos, total = m.group(1), 0, 0.0
    for d in _DURATION_RE.finditer(text):
        if d.start() != pos:
            break
        total += float(d.group(1)) * _UNITS[d.group(2)]
        pos = d.end()
    if pos != len(text) or total <= 0:
        raise InvalidArgument(
            f"invalid schedule {spec!r}: '@every' needs a duration such as '10s' or '1h30m'"
        )
    return timedelta(seconds=total)


def check_schedule(spec: str) -> str:
    """``spec`` if it is a schedule; else InvalidArgument naming the accepted forms."""
    next_tick(spec, datetime(2000, 1, 1, tzinfo=UTC))
    return spec


def next_tick(spec: str, after: datetime) -> datetime:
    """The first tick of ``spec`` strictly after ``after`` (an aware datetime; UTC schedule).

    Raises:
        InvalidArgument: not a cron expression nor ``@every <duration>``.
    """
    every = _every(spec)
    if every is not None:
        return after + every
    from croniter import croniter

    try:
        it = croniter(spec.strip(), after.astimezone(UTC))
        tick: datetime = it.get_next(datetime)
    except (ValueError, KeyError) as err:
        raise InvalidArgument(
            f"invalid schedule {spec!r}: use a cron expression such as '*/10 * * * *' or '@every 10s' ({err})"
        ) from None
    return tick.astimezone(UTC)


def parse_size(text: str) -> int:
    """Bytes in ``"1K"``, ``"10MB"``, ``"2GiB"`` or ``"512"``.

    Raises:
        InvalidArgument: not a size.
    """
    m = _SIZE_RE.fullmatch(text)
    if m is None:
        raise InvalidArgument(f"invalid size {text!r}: use a number of bytes with K, M, G, T (or Ki, Mi...)")
    base = 1024 if m.group(3) else 1000
    return int(float(m.group(1)) * base ** _POWERS[m.group(2).lower()])
