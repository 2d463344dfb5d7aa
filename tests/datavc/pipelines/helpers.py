"""Helpers shared by the pipeline semantics and reliability tests."""

from __future__ import annotations

from pathlib import Path

from datavc.client import Client
from datavc.info import JobInfo
from tests.datavc.helpers import files_of

# Lists the datum's staged inputs (paths relative to $DATAVC_IN, sorted) into one output
# file named after the datum: the output tree then shows exactly how the inputs were laid out.
LIST_INPUTS = 'cd "$DATAVC_IN" && find . -type f | sed "s|^\\./||" | sort > "$DATAVC_OUT/$DATAVC_DATUM_ID"'


def sh(script: str) -> list[str]:
    """A transform ``cmd`` running ``script`` with ``sh -c``."""
    return ["sh", "-c", script]


def upper_copy(input_name: str, runlog: Path | None = None) -> str:
    """A shell transform: every staged file of ``input_name`` -> the same path in
    ``$DATAVC_OUT``, upper-cased; with ``runlog``, one line per run appended to it first."""
    log = (
        f'echo "$DATAVC_DATUM_ID $(cd "$DATAVC_IN" && find . -type f | sort | tr "\\n" " ")" >> {runlog}; '
        if runlog
        else ""
    )
    return (
        log
        + f'cd "$DATAVC_IN/{input_name}" && find . -type f | while read -r f; do '
        + 'mkdir -p "$DATAVC_OUT/$(dirname "$f")"; tr a-z A-Z < "$f" > "$DATAVC_OUT/$f"; done'
    )


def run_ok(client: Client) -> list[str]:
    """Run every pending job in this process; all must succeed. Returns the job ids."""
    report = client.run()
    if not report.ok:
        msgs = [f"{j}: {client.inspect_job(j).message}" for j in report.failed]
        raise AssertionError("jobs failed: " + "; ".join(msgs))
    return report.succeeded


def jobs(client: Client, pipeline: str) -> list[JobInfo]:
    """A pipeline's jobs, oldest first."""
    return list(reversed(client.list_jobs(pipeline)))


def last_job(client: Client, pipeline: str) -> JobInfo:
    return client.list_jobs(pipeline, limit=1)[0]


def listings(client: Client, repo: str, ref: str = "main") -> set[tuple[str, ...]]:
    """What ``LIST_INPUTS`` wrote: one tuple of staged input paths per datum."""
    return {tuple(b.decode().split()) for b in files_of(client, repo, ref).values()}


def runlog_lines(runlog: Path) -> list[str]:
    return runlog.read_text().splitlines() if runlog.exists() else []
