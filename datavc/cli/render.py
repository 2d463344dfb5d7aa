"""Output helpers: JSON documents, human sizes and times, tables, progress on a terminal."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import click

from datavc.errors import DatavcError

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def warn_skipped(path: str, reason: str) -> None:
    """One ``warning:`` line on stderr for a local entry that is not stored."""
    click.echo(f"warning: skipped {click.format_filename(path)}: {reason}", err=True)


def json_option(f: F) -> F:
    """The ``--json`` flag every command that shows data takes."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)


def human_size(n: int | None) -> str:
    """``512 B``, ``1.2 MiB``: sizes for people (``--json`` keeps exact bytes)."""
    if n is None:
        return "-"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def local_time(t: datetime | None) -> str:
    """A time in the local zone, ISO 8601 to the second (``2026-01-02 10:00:00+01:00``)."""
    if t is None:
        return "-"
    return t.astimezone().isoformat(sep=" ", timespec="seconds")


def plural(n: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def short(commit_id: str | None) -> str:
    return commit_id[:12] if commit_id else "-"


def escape(text: str, *, newlines: bool = False) -> str:
    """``text`` safe for a terminal and for line-oriented readers: every unprintable character
    (control characters such as ESC, newline, tab, and Unicode separators) as a Python-style
    escape (``\\x1b``, ``\\n``, ``\\u2028``). With ``newlines``, ``\\n`` is kept (a multi-line message).

    Text output only: ``--json`` keeps every string exact.
    """
    if text.isprintable():
        return text  # the common case, checked in C
    return "".join(
        ch if ch.isprintable() or (newlines and ch == "\n") else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def write_lines(lines: Iterable[str], batch: int = 2000) -> None:
    """Write many lines to stdout in batches (``click.echo`` per line costs a flush each)."""
    out = sys.stdout
    buf: list[str] = []
    for line in lines:
        buf.append(line)
        if len(buf) >= batch:
            out.write("\n".join(buf) + "\n")
            buf.clear()
    if buf:
        out.write("\n".join(buf) + "\n")
    out.flush()


def echo_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2))


def stream_json(items: Iterable[Any], to_json: Callable[[Any], Any]) -> None:
    """One JSON array, written item by item (nothing is written before the first item is known).

    The first item is fetched before ``[`` is written, so an error raised by a lazy
    iterator (a missing repo) leaves stdout empty. An error after that (a corrupt subtree
    met half-way through ``ls -r``) closes the array first, so stdout is always one valid
    JSON document, then propagates: the command prints its one ``error:`` line and exits
    with the error's code, and the array holds the items read before it.
    """
    it = iter(items)
    first = next(it, _END)
    if first is _END:
        click.echo("[]")
        return
    out = sys.stdout
    out.write("[\n" + json.dumps(to_json(first)))
    try:
        for item in it:
            out.write(",\n" + json.dumps(to_json(item)))
    except DatavcError:
        out.write("\n]\n")
        out.flush()
        raise
    out.write("\n]\n")
    out.flush()


_END = object()


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, justify_right: Sequence[int] = ()
) -> None:
    """A compact aligned table, no borders, no trailing blanks (rows are collected: for short lists)."""
    table = [list(headers), *([escape(c) for c in r] for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    for row in table:
        cells = [
            cell.rjust(w) if i in justify_right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        click.echo("  ".join(cells).rstrip())


def print_fields(pairs: Sequence[tuple[str, str]]) -> None:
    """``key: value`` lines with the values aligned."""
    width = max((len(k) for k, _ in pairs), default=0) + 1
    for k, v in pairs:
        click.echo(f"{k + ':':<{width}} {escape(v, newlines=True)}")


class Activity:
    """What a long transfer reports: ``advance(n)`` as bytes move; counts filled in by the command."""

    def __init__(self) -> None:
        self.files: int | None = None
        self.bytes: int | None = None
        self.done = 0
        self._tick: Callable[[int], None] | None = None

    def advance(self, n: int) -> None:
        self.done += n
        if self._tick is not None:
            self._tick(n)


@contextmanager
def activity(label: str, total: int | None = None) -> Iterator[Activity]:
    """A progress bar (bytes, speed, time left) on a terminal, or a spinner when the total is unknown;
    then ``N files, X MiB in Ys``. Nothing at all when stderr is not a terminal."""
    act = Activity()
    if not sys.stderr.isatty():
        yield act
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    start = time.monotonic()
    columns = (
        [
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        ]
        if total
        else [SpinnerColumn(), TextColumn("{task.description}"), DownloadColumn(), TimeElapsedColumn()]
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total or None)
        act._tick = lambda n: progress.advance(task, n)
        yield act
    parts = []
    if act.files is not None:
        parts.append(plural(act.files, "file"))
    if act.bytes is not None or act.done:
        parts.append(human_size(act.bytes if act.bytes is not None else act.done))
    summary = ", ".join(parts) or label
    console.print(f"{summary} in {time.monotonic() - start:.1f}s", highlight=False, markup=False)
